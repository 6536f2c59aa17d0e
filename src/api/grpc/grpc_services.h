// The handlers of the two gRPC services, as plain functions of (context, request, response):
// decode the protobuf, call service::Service, encode. grpc_server.cc registers them on the
// asynchronous server; nothing here knows about completion queues or threads.
//
// Thread-safety: every handler may run concurrently on the server's threads.
#pragma once

#include <functional>

#include <grpcpp/grpcpp.h>

#include <grpcpp/support/byte_buffer.h>

#include "grpc_service.pb.h"
#include "mlos_management.pb.h"
#include "service/service.h"

namespace mlos::grpcapi {

// mlos::StatusCode -> the matching gRPC code; the message is kept.
grpc::Status ToGrpc(const Status& st);

class InferenceService {
 public:
  // `mtls`: the server verifies client certificates, whose CN names the caller.
  explicit InferenceService(service::Service& service, bool mtls = false)
      : service_(service), mtls_(mtls) {}

  grpc::Status ServerLive(grpc::ServerContext*, const inference::ServerLiveRequest*,
                          inference::ServerLiveResponse* res);
  grpc::Status ServerReady(grpc::ServerContext*, const inference::ServerReadyRequest*,
                           inference::ServerReadyResponse* res);
  grpc::Status ServerMetadata(grpc::ServerContext*, const inference::ServerMetadataRequest*,
                              inference::ServerMetadataResponse* res);
  grpc::Status ModelReady(grpc::ServerContext* ctx, const inference::ModelReadyRequest* req,
                          inference::ModelReadyResponse* res);
  grpc::Status ModelMetadata(grpc::ServerContext* ctx, const inference::ModelMetadataRequest* req,
                             inference::ModelMetadataResponse* res);
  grpc::Status ModelInfer(grpc::ServerContext* ctx, const inference::ModelInferRequest* req,
                          inference::ModelInferResponse* res);
  // The same method as the server registers it: the request's and the answer's raw tensor
  // bytes read and written around protobuf (wire/grpc_raw.h), never copied into strings.
  grpc::Status ModelInferRaw(grpc::ServerContext* ctx, grpc::ByteBuffer* req,
                             grpc::ByteBuffer* res);
  // One message of a ModelStreamInfer stream: an error goes into that message's response
  // (error_message) and the stream goes on.
  void StreamInfer(grpc::ServerContext* ctx, const inference::ModelInferRequest& req,
                   inference::ModelStreamInferResponse* res);
  grpc::Status RepositoryIndex(grpc::ServerContext* ctx,
                               const inference::RepositoryIndexRequest* req,
                               inference::RepositoryIndexResponse* res);
  grpc::Status RepositoryModelLoad(grpc::ServerContext* ctx,
                                   const inference::RepositoryModelLoadRequest* req,
                                   inference::RepositoryModelLoadResponse*);
  grpc::Status RepositoryModelUnload(grpc::ServerContext* ctx,
                                     const inference::RepositoryModelUnloadRequest* req,
                                     inference::RepositoryModelUnloadResponse*);
  grpc::Status SystemSharedMemoryStatus(grpc::ServerContext* ctx,
                                        const inference::SystemSharedMemoryStatusRequest* req,
                                        inference::SystemSharedMemoryStatusResponse* res);
  grpc::Status SystemSharedMemoryRegister(grpc::ServerContext* ctx,
                                          const inference::SystemSharedMemoryRegisterRequest* req,
                                          inference::SystemSharedMemoryRegisterResponse*);
  grpc::Status SystemSharedMemoryUnregister(
      grpc::ServerContext* ctx, const inference::SystemSharedMemoryUnregisterRequest* req,
      inference::SystemSharedMemoryUnregisterResponse*);
  grpc::Status ModelConfig(grpc::ServerContext* ctx, const inference::ModelConfigRequest* req,
                           inference::ModelConfigResponse* res);
  grpc::Status ModelStatistics(grpc::ServerContext* ctx,
                               const inference::ModelStatisticsRequest* req,
                               inference::ModelStatisticsResponse* res);

 private:
  Status Infer(grpc::ServerContext* ctx, const inference::ModelInferRequest& req,
               inference::ModelInferResponse* res);

  service::Service& service_;
  const bool mtls_;
};

class ManagementService {
 public:
  explicit ManagementService(service::Service& service, bool mtls = false)
      : service_(service), mtls_(mtls) {}

  grpc::Status Register(grpc::ServerContext* ctx, const mlos::v1::RegisterRequest* req,
                        mlos::v1::RegisterResponse* res);
  grpc::Status List(grpc::ServerContext* ctx, const mlos::v1::ListRequest*,
                    mlos::v1::ListResponse* res);
  grpc::Status Get(grpc::ServerContext* ctx, const mlos::v1::ModelRequest* req,
                   mlos::v1::ModelStatus* res);
  grpc::Status Load(grpc::ServerContext* ctx, const mlos::v1::ModelRequest* req,
                    mlos::v1::ModelStatus* res);
  grpc::Status Unload(grpc::ServerContext* ctx, const mlos::v1::ModelRequest* req,
                      mlos::v1::ModelStatus* res);
  grpc::Status SetDefault(grpc::ServerContext* ctx, const mlos::v1::ModelRequest* req,
                          mlos::v1::ModelStatus* res);
  grpc::Status Rollback(grpc::ServerContext* ctx, const mlos::v1::ModelRequest* req,
                        mlos::v1::ModelStatus* res);
  grpc::Status SetAlias(grpc::ServerContext* ctx, const mlos::v1::AliasRequest* req,
                        mlos::v1::ModelStatus* res);
  grpc::Status Pin(grpc::ServerContext* ctx, const mlos::v1::ModelRequest* req,
                   mlos::v1::ModelStatus* res);
  grpc::Status Unpin(grpc::ServerContext* ctx, const mlos::v1::ModelRequest* req,
                     mlos::v1::ModelStatus* res);
  grpc::Status Unregister(grpc::ServerContext* ctx, const mlos::v1::ModelRequest* req,
                          mlos::v1::UnregisterResponse* res);
  grpc::Status Plugins(grpc::ServerContext* ctx, const mlos::v1::PluginsRequest*,
                       mlos::v1::PluginsResponse* res);
  grpc::Status CreateToken(grpc::ServerContext* ctx, const mlos::v1::CreateTokenRequest* req,
                           mlos::v1::CreateTokenResponse* res);
  grpc::Status ListTokens(grpc::ServerContext* ctx, const mlos::v1::ListTokensRequest*,
                          mlos::v1::ListTokensResponse* res);
  grpc::Status RevokeToken(grpc::ServerContext* ctx, const mlos::v1::RevokeTokenRequest* req,
                           mlos::v1::TokenInfo* res);

  // Each chunk of a generation, in order; false = the client went away (stop generating).
  using ChunkWriter = std::function<bool(std::string_view text)>;
  // One Generate call. Blocks for the whole generation (call it from a thread that may block,
  // never a completion-queue thread): decodes the request, runs service::Service::Generate,
  // hands each chunk to `write`, and on success fills `last` (done, finish_reason, usage).
  grpc::Status Generate(grpc::ServerContext* ctx, const mlos::v1::GenerateRequest& req,
                        const ChunkWriter& write, mlos::v1::GenerateResponse* last);

 private:
  service::Service& service_;
  const bool mtls_;
};

}  // namespace mlos::grpcapi
