// Reading and writing safetensors files and sharded Hugging Face checkpoints (spec §3.1).
//
// Layout: 8-byte little-endian header length N, N bytes of JSON header, then the data section.
// Every length and offset read from a file is bounded before use: the header length against the
// file size and kMaxHeaderBytes, each tensor's offsets against the data section, its byte size
// against dtype × shape (overflow-checked), and tensors may not overlap. Errors name the file and
// the tensor. Files are mapped read-only; views stay valid while their owner lives.
#ifndef R1_COMMON_SAFETENSORS_H_
#define R1_COMMON_SAFETENSORS_H_

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/dtype.h"

namespace r1 {

inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100ull << 20;

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // offsets relative to the data section
  uint64_t end = 0;
  uint64_t numel() const;
  uint64_t nbytes() const { return end - begin; }
};

struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;              // sorted by begin offset
  std::map<std::string, std::string> metadata;  // "__metadata__"
};

// Parses and validates a header's JSON text. `data_size` is the size of the data section;
// `file` names the file in errors. Never throws or crashes on any input (fuzzed).
absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(absl::string_view header_json,
                                                         uint64_t data_size,
                                                         absl::string_view file);

// A tensor's bytes inside a mapped file. Borrowed: valid while the owning file lives.
struct TensorView {
  const TensorInfo* info = nullptr;
  const uint8_t* data = nullptr;
  absl::string_view file;  // path of the shard holding it
  DType dtype() const { return info->dtype; }
  const std::vector<int64_t>& shape() const { return info->shape; }
  uint64_t nbytes() const { return info->nbytes(); }
  uint64_t numel() const { return info->numel(); }
};

// One mapped safetensors file. Immutable after Open; thread-safe for concurrent reads.
class SafetensorsFile {
 public:
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const SafetensorsHeader& header() const { return header_; }
  // nullptr when absent.
  const TensorInfo* Find(absl::string_view name) const;
  TensorView View(const TensorInfo& info) const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  const uint8_t* map_ = nullptr;
  uint64_t map_size_ = 0;
  const uint8_t* data_ = nullptr;
  SafetensorsHeader header_;
  absl::flat_hash_map<absl::string_view, const TensorInfo*> by_name_;
};

// A checkpoint directory: `model.safetensors.index.json` + shards, or a single
// `model.safetensors`. Every shard named by the index is opened and every mapping verified at
// Open, so later lookups cannot fail for a tensor the index lists. Immutable; thread-safe.
class Checkpoint {
 public:
  static absl::StatusOr<std::unique_ptr<Checkpoint>> Open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  bool Has(absl::string_view name) const;
  // Error (NotFound) names the tensor and the checkpoint's index or file.
  absl::StatusOr<TensorView> Get(absl::string_view name) const;
  // Like Get, and also checks dtype and shape (error names tensor, file, expected and actual).
  absl::StatusOr<TensorView> GetChecked(absl::string_view name, DType dtype,
                                        const std::vector<int64_t>& shape) const;
  std::vector<std::string> TensorNames() const;
  uint64_t total_bytes() const;

 private:
  std::string dir_;
  std::string index_path_;  // the index file, or the single file
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::unordered_map<std::string, std::pair<const SafetensorsFile*, const TensorInfo*>> tensors_;
};

// One tensor of a file being written: what its header entry says (its size follows from dtype
// and shape).
struct SafetensorsEntry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
};

// Writes a safetensors file whose tensors are declared up front and whose bytes are appended in
// that order, so the writer holds one tensor at a time instead of the file (a checkpoint shard
// of a full-size model is ~4 GB). Writes `path`.tmp and renames it into place on Finish; a
// stream destroyed unfinished removes the temporary. Not thread-safe.
class SafetensorsStream {
 public:
  // Validates the entries (shapes, unique and unreserved names) and writes the header.
  static absl::StatusOr<std::unique_ptr<SafetensorsStream>> Create(
      const std::string& path, std::vector<SafetensorsEntry> entries,
      const std::map<std::string, std::string>& metadata);
  ~SafetensorsStream();
  // The next tensor's bytes: exactly its size (error names the tensor).
  absl::Status Append(absl::string_view bytes);
  // Every tensor appended: flushes, closes and renames into place.
  absl::Status Finish();

 private:
  SafetensorsStream(std::string path, std::vector<SafetensorsEntry> entries, std::FILE* file);
  std::string path_, tmp_;
  std::vector<SafetensorsEntry> entries_;
  std::FILE* file_;
  size_t next_ = 0;
};

// Builds a safetensors file in memory. Not thread-safe.
class SafetensorsWriter {
 public:
  // `data` must hold exactly numel(shape) × DTypeSize(dtype) bytes.
  absl::Status Add(std::string name, DType dtype, std::vector<int64_t> shape, std::string data);
  void SetMetadata(std::string key, std::string value) { metadata_[key] = std::move(value); }
  // Serializes header (padded with spaces to 8 bytes) and data.
  std::string Serialize() const;
  absl::Status WriteFile(const std::string& path) const;
  std::vector<std::string> names() const;

 private:
  struct Entry {
    SafetensorsEntry entry;
    std::string data;
  };
  std::vector<Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

// Writes model.safetensors.index.json for `weight_map` (tensor name -> shard file name).
absl::Status WriteSafetensorsIndex(const std::string& path,
                                   const std::map<std::string, std::string>& weight_map,
                                   uint64_t total_size);

}  // namespace r1

#endif  // R1_COMMON_SAFETENSORS_H_
