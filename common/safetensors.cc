#include "common/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace r1 {
namespace {

using json = nlohmann::json;

absl::Status TensorError(absl::string_view file, absl::string_view tensor, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(file, ": tensor '", tensor, "': ", what));
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::StatusOr<uint64_t> ReadU64(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0)
    return static_cast<uint64_t>(v.get<int64_t>());
  return absl::InvalidArgumentError("expected a non-negative integer");
}

absl::StatusOr<TensorInfo> ParseEntry(const std::string& name, const json& v, uint64_t data_size,
                                      absl::string_view file) {
  if (!v.is_object()) return TensorError(file, name, "entry is not an object");
  TensorInfo t;
  t.name = name;
  auto dt = v.find("dtype");
  if (dt == v.end() || !dt->is_string()) return TensorError(file, name, "missing string 'dtype'");
  auto parsed = ParseDType(dt->get<std::string>());
  if (!parsed.ok()) return TensorError(file, name, parsed.status().message());
  t.dtype = *parsed;

  auto sh = v.find("shape");
  if (sh == v.end() || !sh->is_array()) return TensorError(file, name, "missing array 'shape'");
  if (sh->size() > 16) return TensorError(file, name, "shape has more than 16 dimensions");
  uint64_t numel = 1;
  for (const auto& d : *sh) {
    auto dim = ReadU64(d);
    if (!dim.ok() || *dim > static_cast<uint64_t>(INT64_MAX)) {
      return TensorError(file, name, "shape entries must be non-negative integers");
    }
    if (__builtin_mul_overflow(numel, *dim, &numel)) {
      return TensorError(file, name, "shape product overflows");
    }
    t.shape.push_back(static_cast<int64_t>(*dim));
  }
  uint64_t want_bytes;
  if (__builtin_mul_overflow(numel, static_cast<uint64_t>(DTypeSize(t.dtype)), &want_bytes)) {
    return TensorError(file, name, "byte size overflows");
  }

  auto off = v.find("data_offsets");
  if (off == v.end() || !off->is_array() || off->size() != 2) {
    return TensorError(file, name, "'data_offsets' must be [begin, end]");
  }
  auto b = ReadU64((*off)[0]);
  auto e = ReadU64((*off)[1]);
  if (!b.ok() || !e.ok()) return TensorError(file, name, "'data_offsets' must be non-negative");
  if (*b > *e)
    return TensorError(file, name, absl::StrCat("data_offsets [", *b, ", ", *e, "] are reversed"));
  if (*e > data_size) {
    return TensorError(
        file, name,
        absl::StrCat("data_offsets [", *b, ", ", *e, "] run past the data section of ", data_size,
                     " bytes (truncated file?)"));
  }
  if (*e - *b != want_bytes) {
    return TensorError(file, name,
                       absl::StrCat("holds ", *e - *b, " bytes but ", DTypeName(t.dtype), " ",
                                    ShapeString(t.shape), " needs ", want_bytes));
  }
  t.begin = *b;
  t.end = *e;
  return t;
}

}  // namespace

uint64_t TensorInfo::numel() const {
  uint64_t n = 1;
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return n;
}

absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(absl::string_view header_json,
                                                         uint64_t data_size,
                                                         absl::string_view file) {
  if (header_json.size() > kMaxSafetensorsHeaderBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": header of ", header_json.size(), " bytes exceeds the limit"));
  }
  json root = json::parse(header_json.begin(), header_json.end(), nullptr, false);
  if (root.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": header is not valid JSON"));
  }
  if (!root.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": header is not a JSON object"));
  }
  SafetensorsHeader h;
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) {
        return absl::InvalidArgumentError(absl::StrCat(file, ": __metadata__ is not an object"));
      }
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) {
          return absl::InvalidArgumentError(
              absl::StrCat(file, ": __metadata__ value for '", m.key(), "' is not a string"));
        }
        h.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    ASSIGN_OR_RETURN(TensorInfo t, ParseEntry(it.key(), *it, data_size, file));
    h.tensors.push_back(std::move(t));
  }
  std::sort(h.tensors.begin(), h.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (size_t i = 1; i < h.tensors.size(); ++i) {
    const TensorInfo& prev = h.tensors[i - 1];
    const TensorInfo& cur = h.tensors[i];
    if (cur.begin < prev.end) {
      return TensorError(
          file, cur.name,
          absl::StrCat("data_offsets [", cur.begin, ", ", cur.end, "] overlap tensor '", prev.name,
                       "' [", prev.begin, ", ", prev.end, "]"));
    }
  }
  return h;
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat(path, ": ", std::strerror(errno)));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": truncated file of ", size, " bytes (no 8-byte header length)"));
  }
  void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) {
    return absl::InternalError(absl::StrCat(path, ": mmap failed: ", std::strerror(errno)));
  }
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  f->map_ = static_cast<const uint8_t*>(map);
  f->map_size_ = size;

  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | f->map_[i];  // little-endian
  if (n > kMaxSafetensorsHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": header length ", n, " exceeds the limit of ", kMaxSafetensorsHeaderBytes));
  }
  if (n > size - 8) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": header length ", n, " runs past the end of the ", size, "-byte file"));
  }
  absl::string_view header(reinterpret_cast<const char*>(f->map_ + 8), n);
  ASSIGN_OR_RETURN(f->header_, ParseSafetensorsHeader(header, size - 8 - n, path));
  f->data_ = f->map_ + 8 + n;
  for (const TensorInfo& t : f->header_.tensors) f->by_name_[t.name] = &t;
  return f;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) munmap(const_cast<uint8_t*>(map_), map_size_);
}

const TensorInfo* SafetensorsFile::Find(absl::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

TensorView SafetensorsFile::View(const TensorInfo& info) const {
  return TensorView{&info, data_ + info.begin, path_};
}

namespace {

// Shard names come from the index; refuse anything that could leave the checkpoint directory.
bool IsPlainFileName(absl::string_view s) {
  return !s.empty() && s != "." && s != ".." && s.find('/') == absl::string_view::npos &&
         s.find('\0') == absl::string_view::npos;
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Checkpoint>> Checkpoint::Open(const std::string& dir) {
  auto ck = std::make_unique<Checkpoint>();
  ck->dir_ = dir;
  const std::string index = dir + "/model.safetensors.index.json";
  if (!Exists(index)) {
    const std::string single = dir + "/model.safetensors";
    if (!Exists(single)) {
      return absl::NotFoundError(
          absl::StrCat(dir, ": neither model.safetensors.index.json nor model.safetensors"));
    }
    ck->index_path_ = single;
    ASSIGN_OR_RETURN(auto f, SafetensorsFile::Open(single));
    for (const TensorInfo& t : f->header().tensors) ck->tensors_[t.name] = {f.get(), &t};
    ck->files_.push_back(std::move(f));
    return ck;
  }
  ck->index_path_ = index;
  ASSIGN_OR_RETURN(std::string text, ReadFileBounded(index, 256ull << 20));
  json root = json::parse(text, nullptr, false);
  if (root.is_discarded() || !root.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(index, ": not a valid JSON object"));
  }
  auto wm = root.find("weight_map");
  if (wm == root.end() || !wm->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(index, ": missing object 'weight_map'"));
  }
  std::map<std::string, const SafetensorsFile*> shards;
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    if (!it->is_string() || !IsPlainFileName(it->get_ref<const std::string&>())) {
      return absl::InvalidArgumentError(absl::StrCat(
          index, ": tensor '", it.key(), "': shard must be a plain file name in the directory"));
    }
    const std::string& shard = it->get_ref<const std::string&>();
    auto s = shards.find(shard);
    if (s == shards.end()) {
      const std::string path = dir + "/" + shard;
      if (!Exists(path)) {
        return absl::NotFoundError(
            absl::StrCat(index, ": tensor '", it.key(), "': shard file ", path, " is missing"));
      }
      ASSIGN_OR_RETURN(auto f, SafetensorsFile::Open(path));
      s = shards.emplace(shard, f.get()).first;
      ck->files_.push_back(std::move(f));
    }
    const TensorInfo* t = s->second->Find(it.key());
    if (t == nullptr) {
      return absl::NotFoundError(absl::StrCat(s->second->path(), ": tensor '", it.key(),
                                              "' listed in ", index, " is missing"));
    }
    ck->tensors_[it.key()] = {s->second, t};
  }
  return ck;
}

bool Checkpoint::Has(absl::string_view name) const {
  return tensors_.find(std::string(name)) != tensors_.end();
}

absl::StatusOr<TensorView> Checkpoint::Get(absl::string_view name) const {
  auto it = tensors_.find(std::string(name));
  if (it == tensors_.end()) {
    return absl::NotFoundError(
        absl::StrCat(index_path_, ": tensor '", name, "' is missing from the checkpoint"));
  }
  return it->second.first->View(*it->second.second);
}

absl::StatusOr<TensorView> Checkpoint::GetChecked(absl::string_view name, DType dtype,
                                                  const std::vector<int64_t>& shape) const {
  ASSIGN_OR_RETURN(TensorView v, Get(name));
  if (v.dtype() != dtype || v.shape() != shape) {
    return absl::InvalidArgumentError(absl::StrCat(
        v.file, ": tensor '", name, "': expected ", DTypeName(dtype), " ", ShapeString(shape),
        ", found ", DTypeName(v.dtype()), " ", ShapeString(v.shape())));
  }
  return v;
}

std::vector<std::string> Checkpoint::TensorNames() const {
  std::vector<std::string> names;
  names.reserve(tensors_.size());
  for (const auto& [name, _] : tensors_) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

uint64_t Checkpoint::total_bytes() const {
  uint64_t total = 0;
  for (const auto& [_, loc] : tensors_) total += loc.second->nbytes();
  return total;
}

namespace {

absl::Status CheckEntry(const SafetensorsEntry& e, uint64_t* bytes) {
  uint64_t numel = 1;
  for (int64_t d : e.shape) {
    if (d < 0) return absl::InvalidArgumentError(absl::StrCat(e.name, ": negative dimension"));
    numel *= static_cast<uint64_t>(d);
  }
  if (e.name == "__metadata__") return absl::InvalidArgumentError("reserved tensor name");
  *bytes = numel * DTypeSize(e.dtype);
  return absl::OkStatus();
}

uint64_t EntryBytes(const SafetensorsEntry& e) {
  uint64_t bytes = 0;
  CheckEntry(e, &bytes).IgnoreError();  // checked when the entry was accepted
  return bytes;
}

// The file's first bytes: the header's length (8 bytes, little-endian) and the JSON header,
// padded with spaces to a multiple of 8; data offsets follow the entries in order.
std::string SerializedHeader(const std::vector<SafetensorsEntry>& entries,
                             const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  uint64_t offset = 0;
  for (const SafetensorsEntry& e : entries) {
    const uint64_t bytes = EntryBytes(e);
    header[e.name] = {{"dtype", std::string(DTypeName(e.dtype))},
                      {"shape", e.shape},
                      {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  const uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + h;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SafetensorsStream>> SafetensorsStream::Create(
    const std::string& path, std::vector<SafetensorsEntry> entries,
    const std::map<std::string, std::string>& metadata) {
  std::set<std::string> names;
  for (const SafetensorsEntry& e : entries) {
    uint64_t bytes = 0;
    RETURN_IF_ERROR(CheckEntry(e, &bytes));
    if (!names.insert(e.name).second) {
      return absl::AlreadyExistsError(absl::StrCat(e.name, ": duplicate tensor"));
    }
  }
  const std::string tmp = path + ".tmp";
  std::FILE* file = std::fopen(tmp.c_str(), "wb");
  if (file == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat(tmp, ": cannot create: ", std::strerror(errno)));
  }
  std::unique_ptr<SafetensorsStream> stream(new SafetensorsStream(path, std::move(entries), file));
  const std::string header = SerializedHeader(stream->entries_, metadata);
  if (std::fwrite(header.data(), 1, header.size(), file) != header.size()) {
    return absl::DataLossError(absl::StrCat(tmp, ": write failed"));
  }
  return stream;
}

SafetensorsStream::SafetensorsStream(std::string path, std::vector<SafetensorsEntry> entries,
                                     std::FILE* file)
    : path_(std::move(path)), tmp_(path_ + ".tmp"), entries_(std::move(entries)), file_(file) {}

SafetensorsStream::~SafetensorsStream() {
  if (file_ != nullptr) {
    std::fclose(file_);
    std::remove(tmp_.c_str());
  }
}

absl::Status SafetensorsStream::Append(absl::string_view bytes) {
  if (file_ == nullptr || next_ >= entries_.size()) {
    return absl::FailedPreconditionError(absl::StrCat(path_, ": more tensors than declared"));
  }
  const SafetensorsEntry& e = entries_[next_];
  if (bytes.size() != EntryBytes(e)) {
    return absl::InvalidArgumentError(absl::StrCat(e.name, ": ", bytes.size(), " bytes for ",
                                                   DTypeName(e.dtype), " ", ShapeString(e.shape)));
  }
  if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
    return absl::DataLossError(absl::StrCat(tmp_, ": write failed at ", e.name));
  }
  ++next_;
  return absl::OkStatus();
}

absl::Status SafetensorsStream::Finish() {
  if (file_ == nullptr) return absl::FailedPreconditionError(absl::StrCat(path_, ": finished"));
  if (next_ != entries_.size()) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": ", entries_.size() - next_, " declared tensors not written"));
  }
  const bool flushed = std::fflush(file_) == 0;
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (!flushed || !closed) {
    std::remove(tmp_.c_str());
    return absl::DataLossError(absl::StrCat(tmp_, ": write failed"));
  }
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    return absl::InternalError(absl::StrCat(path_, ": rename failed: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status SafetensorsWriter::Add(std::string name, DType dtype, std::vector<int64_t> shape,
                                    std::string data) {
  SafetensorsEntry entry{std::move(name), dtype, std::move(shape)};
  uint64_t bytes = 0;
  RETURN_IF_ERROR(CheckEntry(entry, &bytes));
  if (bytes != data.size()) {
    return absl::InvalidArgumentError(absl::StrCat(entry.name, ": ", data.size(), " bytes for ",
                                                   DTypeName(entry.dtype), " ",
                                                   ShapeString(entry.shape)));
  }
  for (const Entry& e : entries_) {
    if (e.entry.name == entry.name) {
      return absl::AlreadyExistsError(absl::StrCat(entry.name, ": duplicate tensor"));
    }
  }
  entries_.push_back(Entry{std::move(entry), std::move(data)});
  return absl::OkStatus();
}

std::string SafetensorsWriter::Serialize() const {
  std::vector<SafetensorsEntry> entries;
  for (const Entry& e : entries_) entries.push_back(e.entry);
  std::string out = SerializedHeader(entries, metadata_);
  for (const Entry& e : entries_) out += e.data;
  return out;
}

absl::Status SafetensorsWriter::WriteFile(const std::string& path) const {
  std::vector<SafetensorsEntry> entries;
  for (const Entry& e : entries_) entries.push_back(e.entry);
  ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsStream> stream,
                   SafetensorsStream::Create(path, std::move(entries), metadata_));
  for (const Entry& e : entries_) RETURN_IF_ERROR(stream->Append(e.data));
  return stream->Finish();
}

std::vector<std::string> SafetensorsWriter::names() const {
  std::vector<std::string> n;
  for (const Entry& e : entries_) n.push_back(e.entry.name);
  return n;
}

absl::Status WriteSafetensorsIndex(const std::string& path,
                                   const std::map<std::string, std::string>& weight_map,
                                   uint64_t total_size) {
  json root = {{"metadata", {{"total_size", total_size}}}, {"weight_map", weight_map}};
  return WriteFileAtomic(path, root.dump(2) + "\n");
}

}  // namespace r1
