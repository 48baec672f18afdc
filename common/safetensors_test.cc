#include "common/safetensors.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

#include "common/numeric.h"

namespace r1 {
namespace {

namespace fs = std::filesystem;

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("r1_st_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  // Writes a file made of an explicit header length, header text and `data_bytes` zero bytes.
  std::string WriteRaw(const std::string& name, uint64_t header_len, const std::string& header,
                       size_t data_bytes) {
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((header_len >> (8 * i)) & 0xff);
    bytes += header;
    bytes.append(data_bytes, '\0');
    std::ofstream(Path(name), std::ios::binary) << bytes;
    return Path(name);
  }
  std::string WriteHeader(const std::string& name, const std::string& header, size_t data_bytes) {
    return WriteRaw(name, header.size(), header, data_bytes);
  }

  fs::path dir_;
};

std::string Bf16Bytes(const std::vector<float>& v) {
  std::string out(v.size() * 2, '\0');
  for (size_t i = 0; i < v.size(); ++i) {
    uint16_t b = FloatToBf16(v[i]);
    std::memcpy(&out[2 * i], &b, 2);
  }
  return out;
}

std::string F32Bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

void ExpectRejected(const absl::Status& st, const std::string& file, const std::string& tensor) {
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find(file), std::string::npos) << st;
  if (!tensor.empty()) {
    EXPECT_NE(st.message().find("'" + tensor + "'"), std::string::npos) << st;
  }
}

TEST_F(SafetensorsTest, SingleFileRoundTrip) {
  SafetensorsWriter w;
  ASSERT_TRUE(w.Add("a.weight", DType::kBF16, {2, 3}, Bf16Bytes({1, 2, 3, -4, 0.5f, 6})).ok());
  std::string fp8(5 * 7, '\0');
  for (size_t i = 0; i < fp8.size(); ++i) fp8[i] = static_cast<char>(i * 7);
  ASSERT_TRUE(w.Add("b.weight", DType::kF8E4M3, {5, 7}, fp8).ok());
  ASSERT_TRUE(w.Add("c.bias", DType::kF32, {3}, F32Bytes({1.5f, -2.5f, 3.25f})).ok());
  ASSERT_TRUE(w.Add("empty", DType::kF32, {0, 4}, "").ok());
  w.SetMetadata("format", "pt");
  ASSERT_TRUE(w.WriteFile(Path("model.safetensors")).ok());

  auto ck = Checkpoint::Open(dir_.string());
  ASSERT_TRUE(ck.ok()) << ck.status();
  EXPECT_EQ((*ck)->TensorNames(),
            (std::vector<std::string>{"a.weight", "b.weight", "c.bias", "empty"}));
  auto a = (*ck)->GetChecked("a.weight", DType::kBF16, {2, 3});
  ASSERT_TRUE(a.ok()) << a.status();
  uint16_t v3;
  std::memcpy(&v3, a->data + 6, 2);
  EXPECT_EQ(Bf16ToFloat(v3), -4.0f);
  auto b = (*ck)->Get("b.weight");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(b->data), b->nbytes()), fp8);
  auto c = (*ck)->Get("c.bias");
  float f[3];
  std::memcpy(f, c->data, 12);
  EXPECT_EQ(f[2], 3.25f);
  EXPECT_EQ((*ck)->Get("empty")->nbytes(), 0u);
  auto file = SafetensorsFile::Open(Path("model.safetensors"));
  ASSERT_TRUE(file.ok());
  EXPECT_EQ((*file)->header().metadata.at("format"), "pt");
}

// WriteFile streams the file (SafetensorsStream): its bytes are exactly Serialize()'s.
TEST_F(SafetensorsTest, StreamWritesWhatSerializeBuilds) {
  SafetensorsWriter w;
  ASSERT_TRUE(w.Add("x", DType::kBF16, {3}, Bf16Bytes({1, 2, 3})).ok());
  ASSERT_TRUE(w.Add("y", DType::kF32, {2}, F32Bytes({4, 5})).ok());
  w.SetMetadata("format", "pt");
  ASSERT_TRUE(w.WriteFile(Path("m.safetensors")).ok());
  std::ifstream in(Path("m.safetensors"), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(bytes, w.Serialize());
}

TEST_F(SafetensorsTest, StreamRefusesMisuseAndLeavesNoFile) {
  const std::vector<SafetensorsEntry> entries = {{"a", DType::kF32, {2}}, {"b", DType::kBF16, {4}}};
  EXPECT_FALSE(SafetensorsStream::Create(Path("d.safetensors"),
                                         {{"a", DType::kF32, {1}}, {"a", DType::kF32, {1}}}, {})
                   .ok());
  EXPECT_FALSE(
      SafetensorsStream::Create(Path("n.safetensors"), {{"a", DType::kF32, {-1}}}, {}).ok());
  {
    auto s = SafetensorsStream::Create(Path("s.safetensors"), entries, {});
    ASSERT_TRUE(s.ok()) << s.status();
    const absl::Status wrong = (*s)->Append(std::string(4, '\0'));  // a needs 8 bytes
    EXPECT_FALSE(wrong.ok());
    EXPECT_NE(wrong.message().find("a:"), std::string::npos) << wrong;
    ASSERT_TRUE((*s)->Append(F32Bytes({1, 2})).ok());
    EXPECT_FALSE((*s)->Finish().ok());  // b not written
  }                                     // destroyed unfinished: the temporary is removed
  EXPECT_FALSE(fs::exists(Path("s.safetensors")));
  EXPECT_FALSE(fs::exists(Path("s.safetensors.tmp")));

  auto s = SafetensorsStream::Create(Path("t.safetensors"), entries, {});
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->Append(F32Bytes({1, 2})).ok());
  ASSERT_TRUE((*s)->Append(Bf16Bytes({1, 2, 3, 4})).ok());
  EXPECT_FALSE((*s)->Append(F32Bytes({1})).ok());  // more than declared
  ASSERT_TRUE((*s)->Finish().ok());
  EXPECT_FALSE((*s)->Finish().ok());
  auto file = SafetensorsFile::Open(Path("t.safetensors"));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_FALSE(fs::exists(Path("t.safetensors.tmp")));
}

TEST_F(SafetensorsTest, ShardedIndexWithScaleInAnotherShard) {
  SafetensorsWriter s1, s2;
  std::string w(256 * 128, '\x38');  // 1.0 in e4m3
  ASSERT_TRUE(s1.Add("layer.weight", DType::kF8E4M3, {256, 128}, w).ok());
  ASSERT_TRUE(s1.Add("norm.weight", DType::kBF16, {4}, Bf16Bytes({1, 1, 1, 1})).ok());
  ASSERT_TRUE(s2.Add("layer.weight_scale_inv", DType::kF32, {2, 1}, F32Bytes({0.5f, 2.0f})).ok());
  ASSERT_TRUE(s1.WriteFile(Path("model-00001-of-000002.safetensors")).ok());
  ASSERT_TRUE(s2.WriteFile(Path("model-00002-of-000002.safetensors")).ok());
  ASSERT_TRUE(
      WriteSafetensorsIndex(Path("model.safetensors.index.json"),
                            {{"layer.weight", "model-00001-of-000002.safetensors"},
                             {"norm.weight", "model-00001-of-000002.safetensors"},
                             {"layer.weight_scale_inv", "model-00002-of-000002.safetensors"}},
                            256 * 128 + 8 + 8)
          .ok());
  auto ck = Checkpoint::Open(dir_.string());
  ASSERT_TRUE(ck.ok()) << ck.status();
  auto weight = (*ck)->GetChecked("layer.weight", DType::kF8E4M3, {256, 128});
  auto scale = (*ck)->GetChecked("layer.weight_scale_inv", DType::kF32, {2, 1});
  ASSERT_TRUE(weight.ok() && scale.ok());
  EXPECT_NE(weight->file, scale->file);
  EXPECT_NE(std::string(scale->file).find("00002"), std::string::npos);
  float s[2];
  std::memcpy(s, scale->data, 8);
  // Block-dequantised value of row 200 (second block row): 1.0 * 2.0.
  EXPECT_EQ(Fp8E4m3ToFloat(weight->data[200 * 128 + 5]) * s[200 / 128], 2.0f);
  EXPECT_EQ((*ck)->total_bytes(), 256u * 128 + 8 + 8);
}

// ---- malformed files: each is refused with an error naming the file (and the tensor) ----

TEST_F(SafetensorsTest, RejectsFileShorterThanHeaderLength) {
  std::ofstream(Path("t.safetensors"), std::ios::binary) << std::string("\x10\x00\x00", 3);
  ExpectRejected(SafetensorsFile::Open(Path("t.safetensors")).status(), "t.safetensors", "");
}

TEST_F(SafetensorsTest, RejectsTruncatedDataSection) {
  auto p = WriteHeader("t.safetensors",
                       R"({"w":{"dtype":"F32","shape":[4,4],"data_offsets":[0,64]}})", 40);
  ExpectRejected(SafetensorsFile::Open(p).status(), "t.safetensors", "w");
}

TEST_F(SafetensorsTest, RejectsHeaderLengthBeyondFile) {
  auto p = WriteRaw("t.safetensors", 1000, "{}", 0);
  auto st = SafetensorsFile::Open(p).status();
  ExpectRejected(st, "t.safetensors", "");
  EXPECT_NE(st.message().find("runs past the end"), std::string::npos) << st;
}

TEST_F(SafetensorsTest, RejectsAbsurdHeaderLength) {
  auto p = WriteRaw("t.safetensors", 1ull << 60, "{}", 0);
  auto st = SafetensorsFile::Open(p).status();
  ExpectRejected(st, "t.safetensors", "");
  EXPECT_NE(st.message().find("exceeds the limit"), std::string::npos) << st;
}

TEST_F(SafetensorsTest, RejectsBadJson) {
  auto p = WriteHeader("t.safetensors", R"({"w":{"dtype":"F32",)", 0);
  ExpectRejected(SafetensorsFile::Open(p).status(), "t.safetensors", "");
}

TEST_F(SafetensorsTest, RejectsNonObjectHeader) {
  auto p = WriteHeader("t.safetensors", "[1,2,3]", 0);
  ExpectRejected(SafetensorsFile::Open(p).status(), "t.safetensors", "");
}

TEST_F(SafetensorsTest, RejectsUnknownDtype) {
  auto p =
      WriteHeader("t.safetensors", R"({"w":{"dtype":"F12","shape":[2],"data_offsets":[0,4]}})", 4);
  ExpectRejected(SafetensorsFile::Open(p).status(), "t.safetensors", "w");
}

TEST_F(SafetensorsTest, RejectsShapeByteSizeMismatch) {
  auto p = WriteHeader("t.safetensors",
                       R"({"w":{"dtype":"BF16","shape":[3,3],"data_offsets":[0,16]}})", 16);
  auto st = SafetensorsFile::Open(p).status();
  ExpectRejected(st, "t.safetensors", "w");
  EXPECT_NE(st.message().find("needs 18"), std::string::npos) << st;
}

TEST_F(SafetensorsTest, RejectsOffsetsOutOfRange) {
  auto p = WriteHeader(
      "t.safetensors",
      R"({"w":{"dtype":"U8","shape":[8],"data_offsets":[18446744073709551608,18446744073709551615]}})",
      8);
  ExpectRejected(SafetensorsFile::Open(p).status(), "t.safetensors", "w");
}

TEST_F(SafetensorsTest, RejectsReversedOffsets) {
  auto p =
      WriteHeader("t.safetensors", R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[8,0]}})", 8);
  ExpectRejected(SafetensorsFile::Open(p).status(), "t.safetensors", "w");
}

TEST_F(SafetensorsTest, RejectsOverlappingOffsets) {
  auto p = WriteHeader("t.safetensors",
                       R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                       R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})",
                       24);
  auto st = SafetensorsFile::Open(p).status();
  ExpectRejected(st, "t.safetensors", "b");
  EXPECT_NE(st.message().find("overlap"), std::string::npos) << st;
}

TEST_F(SafetensorsTest, RejectsNegativeAndOverflowingShapes) {
  auto p = WriteHeader("t.safetensors",
                       R"({"w":{"dtype":"F32","shape":[-1,4],"data_offsets":[0,0]}})", 0);
  ExpectRejected(SafetensorsFile::Open(p).status(), "t.safetensors", "w");
  auto q = WriteHeader(
      "u.safetensors",
      R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,0]}})", 0);
  ExpectRejected(SafetensorsFile::Open(q).status(), "u.safetensors", "w");
}

TEST_F(SafetensorsTest, RejectsMalformedEntryFields) {
  for (const char* h : {R"({"w":5})", R"({"w":{"shape":[1],"data_offsets":[0,4]}})",
                        R"({"w":{"dtype":"F32","data_offsets":[0,4]}})",
                        R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})",
                        R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})",
                        R"({"w":{"dtype":"F32","shape":[1],"data_offsets":["0","4"]}})"}) {
    auto p = WriteHeader("t.safetensors", h, 4);
    ExpectRejected(SafetensorsFile::Open(p).status(), "t.safetensors", "w");
  }
  auto m = WriteHeader("m.safetensors", R"({"__metadata__":{"format":1}})", 0);
  ExpectRejected(SafetensorsFile::Open(m).status(), "m.safetensors", "");
}

class ShardedFailureTest : public SafetensorsTest {
 protected:
  void WriteShards() {
    SafetensorsWriter s1;
    ASSERT_TRUE(s1.Add("a", DType::kF32, {1}, F32Bytes({1})).ok());
    ASSERT_TRUE(s1.WriteFile(Path("s1.safetensors")).ok());
  }
};

TEST_F(ShardedFailureTest, RejectsMissingShard) {
  WriteShards();
  ASSERT_TRUE(WriteSafetensorsIndex(Path("model.safetensors.index.json"),
                                    {{"a", "s1.safetensors"}, {"b", "s2.safetensors"}}, 8)
                  .ok());
  auto st = Checkpoint::Open(dir_.string()).status();
  ExpectRejected(st, "s2.safetensors", "b");
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
}

TEST_F(ShardedFailureTest, RejectsTensorMissingFromItsShard) {
  WriteShards();
  ASSERT_TRUE(WriteSafetensorsIndex(Path("model.safetensors.index.json"),
                                    {{"a", "s1.safetensors"}, {"ghost", "s1.safetensors"}}, 8)
                  .ok());
  ExpectRejected(Checkpoint::Open(dir_.string()).status(), "s1.safetensors", "ghost");
}

TEST_F(ShardedFailureTest, LookupOfMissingTensorNamesIt) {
  WriteShards();
  ASSERT_TRUE(
      WriteSafetensorsIndex(Path("model.safetensors.index.json"), {{"a", "s1.safetensors"}}, 4)
          .ok());
  auto ck = Checkpoint::Open(dir_.string());
  ASSERT_TRUE(ck.ok()) << ck.status();
  ExpectRejected((*ck)->Get("model.layers.3.mlp.gate.weight").status(),
                 "model.safetensors.index.json", "model.layers.3.mlp.gate.weight");
  ExpectRejected((*ck)->GetChecked("a", DType::kBF16, {1}).status(), "s1.safetensors", "a");
}

TEST_F(ShardedFailureTest, RejectsShardPathsOutsideTheDirectory) {
  WriteShards();
  ASSERT_TRUE(
      WriteSafetensorsIndex(Path("model.safetensors.index.json"), {{"a", "../s1.safetensors"}}, 4)
          .ok());
  ExpectRejected(Checkpoint::Open(dir_.string()).status(), "model.safetensors.index.json", "a");
}

TEST_F(ShardedFailureTest, RejectsMalformedIndex) {
  WriteShards();
  std::ofstream(Path("model.safetensors.index.json")) << "{\"weight_map\": [1, 2]}";
  ExpectRejected(Checkpoint::Open(dir_.string()).status(), "model.safetensors.index.json", "");
  std::ofstream(Path("model.safetensors.index.json")) << "{\"weight_map\": ";
  ExpectRejected(Checkpoint::Open(dir_.string()).status(), "model.safetensors.index.json", "");
}

TEST_F(ShardedFailureTest, RejectsEmptyDirectory) {
  ExpectRejected(Checkpoint::Open(dir_.string()).status(), dir_.string(), "");
}

}  // namespace
}  // namespace r1
