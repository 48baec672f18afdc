// Every coordinator gRPC service refuses calls without the right bearer token: the public
// Inference API takes the API keys, the cluster plane (Attach, Rendezvous, Admin) the cluster
// secret, and neither accepts the other's credential. In-process server on loopback.
#include "coordinator/grpc_api/grpc_auth.h"

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "coordinator/cluster/cluster_service.h"
#include "coordinator/cluster/cluster_state.h"
#include "coordinator/cluster/rendezvous_service.h"
#include "coordinator/grpc_api/inference_service.h"
#include "coordinator/testing/fake_generator.h"
#include "proto/grpc_security.h"

namespace r1 {
namespace {

constexpr char kTokenizer[] = "models/r1-tiny/tokenizer.json";
const char* const kApiKey = "sk-api-key";
const char* const kSecret = "cluster-secret-1";

class GrpcAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tok = tok::Tokenizer::LoadFromFile(kTokenizer);
    ASSERT_TRUE(tok.ok()) << tok.status();
    tokenizer_ = *std::move(tok);
    InferenceServiceOptions io;
    io.auth = &api_auth_;
    auto svc = InferenceService::Create(tokenizer_.get(), &gen_, io);
    ASSERT_TRUE(svc.ok()) << svc.status();
    inference_ = *std::move(svc);
    grpc::ServerBuilder b;
    int port = 0;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(inference_.get());
    b.RegisterService(&cluster_);
    b.RegisterService(&admin_);
    b.RegisterService(&rendezvous_);
    server_ = b.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                       grpc::InsecureChannelCredentials());
    inference_stub_ = r1::v1::Inference::NewStub(channel);
    admin_stub_ = r1::v1::Admin::NewStub(channel);
    rendezvous_stub_ = r1::v1::Rendezvous::NewStub(channel);
    cluster_stub_ = r1::v1::Cluster::NewStub(channel);
  }
  void TearDown() override { server_->Shutdown(); }

  static std::unique_ptr<grpc::ClientContext> Context(const std::string& token) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    AddBearer(ctx.get(), token);
    return ctx;
  }
  grpc::StatusCode ListModels(const std::string& token) {
    r1::v1::ListModelsResponse r;
    return inference_stub_->ListModels(Context(token).get(), {}, &r).error_code();
  }
  grpc::StatusCode Tokenize(const std::string& token) {
    r1::v1::TokenizeRequest req;
    req.set_text("hello");
    r1::v1::TokenizeResponse r;
    return inference_stub_->Tokenize(Context(token).get(), req, &r).error_code();
  }
  grpc::StatusCode Generate(const std::string& token) {
    r1::v1::GenerateRequest req;
    req.set_prompt("hello");
    auto ctx = Context(token);
    auto reader = inference_stub_->Generate(ctx.get(), req);
    r1::v1::GenerateResponse m;
    while (reader->Read(&m)) {
    }
    return reader->Finish().error_code();
  }
  grpc::StatusCode Status(const std::string& token) {
    r1::v1::ClusterStatusResponse r;
    return admin_stub_->ClusterStatus(Context(token).get(), {}, &r).error_code();
  }
  grpc::StatusCode RendezvousSet(const std::string& token) {
    r1::v1::RendezvousSetRequest req;
    req.set_key("k");
    req.set_value("v");
    r1::v1::RendezvousSetResponse r;
    return rendezvous_stub_->Set(Context(token).get(), req, &r).error_code();
  }
  grpc::Status Attach(const std::string& token) {
    auto ctx = Context(token);
    auto stream = cluster_stub_->Attach(ctx.get());
    r1::v1::WorkerMessage hello;
    hello.mutable_hello()->set_worker_id("intruder");
    stream->Write(hello);
    stream->WritesDone();
    r1::v1::CoordinatorMessage m;
    while (stream->Read(&m)) {
    }
    return stream->Finish();
  }

  GrpcAuth api_auth_{{kApiKey}, "API key"};
  GrpcAuth cluster_auth_{{kSecret, "cluster-secret-2"}, "cluster secret"};
  testing::FakeGenerator gen_{ServedModel{"tiny", 4096, 16128, 1}};
  ClusterState state_{ClusterOptions{}};
  ClusterService cluster_{&state_, &cluster_auth_};
  AdminService admin_{&state_, &cluster_auth_};
  RendezvousService rendezvous_{&cluster_auth_};
  std::unique_ptr<tok::Tokenizer> tokenizer_;
  std::unique_ptr<InferenceService> inference_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<r1::v1::Inference::Stub> inference_stub_;
  std::unique_ptr<r1::v1::Admin::Stub> admin_stub_;
  std::unique_ptr<r1::v1::Rendezvous::Stub> rendezvous_stub_;
  std::unique_ptr<r1::v1::Cluster::Stub> cluster_stub_;
};

TEST_F(GrpcAuthTest, InferenceNeedsAnApiKey) {
  for (const std::string& bad : {std::string(), std::string("wrong"), std::string(kSecret)}) {
    EXPECT_EQ(ListModels(bad), grpc::StatusCode::UNAUTHENTICATED) << bad;
    EXPECT_EQ(Tokenize(bad), grpc::StatusCode::UNAUTHENTICATED) << bad;
    EXPECT_EQ(Generate(bad), grpc::StatusCode::UNAUTHENTICATED) << bad;
  }
  EXPECT_EQ(ListModels(kApiKey), grpc::StatusCode::OK);
  EXPECT_EQ(Tokenize(kApiKey), grpc::StatusCode::OK);
}

TEST_F(GrpcAuthTest, TheClusterPlaneNeedsTheClusterSecret) {
  for (const std::string& bad : {std::string(), std::string("wrong"), std::string(kApiKey)}) {
    EXPECT_EQ(Status(bad), grpc::StatusCode::UNAUTHENTICATED) << bad;
    EXPECT_EQ(RendezvousSet(bad), grpc::StatusCode::UNAUTHENTICATED) << bad;
    const grpc::Status attach = Attach(bad);
    EXPECT_EQ(attach.error_code(), grpc::StatusCode::UNAUTHENTICATED) << bad;
  }
  EXPECT_TRUE(state_.Status().workers().empty());  // nobody got in
  EXPECT_EQ(Status(kSecret), grpc::StatusCode::OK);
  EXPECT_EQ(Status("cluster-secret-2"), grpc::StatusCode::OK);  // rotation: either secret
  EXPECT_EQ(RendezvousSet(kSecret), grpc::StatusCode::OK);
}

TEST(GrpcAuthOpenTest, NoKeysLetsEveryCallThrough) {
  GrpcAuth open;
  EXPECT_TRUE(open.open());
  grpc::ServerContext ctx;
  EXPECT_TRUE(open.Check(ctx).ok());
  GrpcAuth closed({"k"}, "API key");
  const grpc::Status st = closed.Check(ctx);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(st.error_message().find("missing API key"), std::string::npos) << st.error_message();
}

}  // namespace
}  // namespace r1
