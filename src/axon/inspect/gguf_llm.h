// What a GGUF file says about the language model in it: the manifest's spec.llm section and the
// IO schema that follows from it (generator or embedding model). Pure functions of GgufInfo.
#pragma once

#include <cstdint>
#include <string>

#include "axon/inspect/gguf.h"
#include "mpf/manifest.h"

namespace mlos::axon {

// True for the BERT-family encoder architectures llama.cpp runs as embedding models ("bert",
// "nomic-bert", "nomic-bert-moe", "jina-bert-v2", "jina-bert-v3", "modern-bert", "neo-bert").
bool IsEmbeddingArchitecture(const std::string& architecture);

// The sum of the tensors' element counts (saturating).
uint64_t GgufTensorElements(const GgufInfo& info);

// The quantization: the name of general.file_type ("Q4_K_M") when the file states a known one,
// else the ggml type of the most weight elements among the 2-D and larger tensors (all tensors
// when there are none), e.g. "Q8_0"; "" when no tensor type is known.
std::string GgufQuantization(const GgufInfo& info);

// spec.llm from the metadata: architecture, {arch}.context_length, {arch}.embedding_length,
// general.parameter_count (else the tensors' element count), the quantization above,
// tokenizer.chat_template, and embedding = IsEmbeddingArchitecture or a {arch}.pooling_type of
// mean, cls or last (none, unspecified and rank do not make an embedding model).
mpf::Llm LlmFromGguf(const GgufInfo& info);

// spec.io for an LLM: a generator takes prompt:string[-1] and yields text:string[-1]; an embedding
// model takes text:string[-1] and yields embedding:float32[-1, embedding_length] (-1 when the
// length is unknown).
mpf::Io LlmIo(const mpf::Llm& llm);

}  // namespace mlos::axon
