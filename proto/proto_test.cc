// Checks that the r1.v1 protos compile into a usable library: messages round-trip through the wire
// format, and a server built with gRPC's default health service answers grpc.health.v1 Check.
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <gtest/gtest.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "r1/v1/admin.pb.h"
#include "r1/v1/cluster.pb.h"
#include "r1/v1/inference.grpc.pb.h"

namespace {

TEST(ProtoTest, GenerateRequestRoundTrips) {
  r1::v1::GenerateRequest req;
  req.set_model("deepseek-r1");
  auto* m = req.add_messages();
  m->set_role("user");
  m->set_content("What is 2+2?");
  req.mutable_sampling()->set_temperature(0.6f);
  req.mutable_sampling()->set_max_tokens(32);
  req.mutable_sampling()->add_stop("\n\n");
  std::string wire;
  ASSERT_TRUE(req.SerializeToString(&wire));
  r1::v1::GenerateRequest back;
  ASSERT_TRUE(back.ParseFromString(wire));
  EXPECT_EQ(back.messages(0).content(), "What is 2+2?");
  EXPECT_TRUE(back.sampling().has_max_tokens());
  EXPECT_FALSE(back.sampling().has_seed());
  EXPECT_EQ(back.sampling().stop(0), "\n\n");
}

TEST(ProtoTest, ClusterOneofsAreExclusive) {
  r1::v1::WorkerMessage msg;
  msg.mutable_hello()->set_worker_id("w0");
  EXPECT_EQ(msg.msg_case(), r1::v1::WorkerMessage::kHello);
  msg.mutable_stats()->set_running_sequences(3);
  EXPECT_EQ(msg.msg_case(), r1::v1::WorkerMessage::kStats);
  EXPECT_FALSE(msg.has_hello());
}

TEST(ProtoTest, GarbageDoesNotParseAsAssign) {
  r1::v1::CoordinatorMessage msg;
  // A length-delimited field whose length runs past the end of the buffer.
  const std::string garbage("\x0a\xff\xff\xff\x0f", 5);
  EXPECT_FALSE(msg.ParseFromString(garbage));
}

TEST(ProtoTest, AssignCarriesEnums) {
  r1::v1::Assign assign;
  assign.set_expert_dtype(r1::v1::WEIGHT_DTYPE_INT4);
  assign.set_kv_dtype(r1::v1::KV_DTYPE_BF16);
  std::string wire = assign.SerializeAsString();
  r1::v1::Assign back;
  ASSERT_TRUE(back.ParseFromString(wire));
  EXPECT_EQ(back.expert_dtype(), r1::v1::WEIGHT_DTYPE_INT4);
  EXPECT_EQ(back.kv_dtype(), r1::v1::KV_DTYPE_BF16);
}

TEST(ProtoTest, DefaultHealthServiceAnswersCheck) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  r1::v1::Inference::Service unimplemented;  // base class: every method answers UNIMPLEMENTED
  builder.RegisterService(&unimplemented);
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  ASSERT_GT(port, 0);
  server->GetHealthCheckService()->SetServingStatus("", false);

  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->Check(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  }
  server->GetHealthCheckService()->SetServingStatus("", true);
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->Check(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }
  {
    auto inference = r1::v1::Inference::NewStub(channel);
    grpc::ClientContext ctx;
    r1::v1::ListModelsResponse models;
    EXPECT_EQ(inference->ListModels(&ctx, {}, &models).error_code(),
              grpc::StatusCode::UNIMPLEMENTED);
  }
  server->Shutdown();
}

}  // namespace
