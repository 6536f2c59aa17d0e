// Force-included into every C++ file of a TSan build (CMakeLists.txt, MLOS_SANITIZE=thread).
//
// protobuf 3.21's map_field.h gives MapFieldBase two more members (seq1_, seq2_) when
// __SANITIZE_THREAD__ is defined, ahead of arena_ and repeated_field_. Debian's libprotobuf is
// built without TSan, so its out-of-line MapFieldBase code (destructor, synchronisation with the
// repeated field, reflection) reads those members 8 bytes earlier than our instrumented code
// wrote them: destroying a message with a map field (KServe's RepositoryModelLoadRequest) then
// `delete`s the arena pointer and crashes mlosd in protobuf's arena (docs/reliability.md,
// "Sanitizers"). Here map_field.h is read once, first, with the macro hidden, so every file
// agrees with the library; the macro is back for everything after it, and the standard library
// is included before so that its own TSan configuration is unchanged.
#pragma once

#include <atomic>
#include <mutex>
#include <string>

#ifdef __SANITIZE_THREAD__
#pragma push_macro("__SANITIZE_THREAD__")
#undef __SANITIZE_THREAD__
#include <google/protobuf/map_field.h>
#pragma pop_macro("__SANITIZE_THREAD__")
#endif
