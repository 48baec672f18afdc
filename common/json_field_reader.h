// FieldReader: typed fields out of one JSON object of a config file, with errors that name the
// file and the field ("config.json: field 'rope_scaling.factor': missing"). Shared by the config
// parsers of common/ (model_config.cc, dense_model_config.cc). Never throws. Borrows the object
// and the source name; both must outlive the reader. Thread-compatible.
#ifndef R1_COMMON_JSON_FIELD_READER_H_
#define R1_COMMON_JSON_FIELD_READER_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace r1::internal {

using json = nlohmann::json;

// A parsed config's integer field by name, for the range checks below.
struct NamedSize {
  const char* name;
  int64_t value;
};

// InvalidArgument naming `source` and the first field ≤ 0.
inline absl::Status CheckPositive(absl::string_view source,
                                  std::initializer_list<NamedSize> fields) {
  for (const NamedSize& f : fields) {
    if (f.value <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": field '", f.name, "': must be > 0, got ", f.value));
    }
  }
  return absl::OkStatus();
}

// InvalidArgument naming `source` and the first field above `max` (sizes are kept small enough
// that products of two of them cannot overflow int64).
inline absl::Status CheckAtMost(absl::string_view source, std::initializer_list<NamedSize> fields,
                                int64_t max) {
  for (const NamedSize& f : fields) {
    if (f.value > max) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": field '", f.name, "': value ", f.value, " is too large"));
    }
  }
  return absl::OkStatus();
}

// Reads typed fields out of one JSON object, naming `prefix + key` in errors.
class FieldReader {
 public:
  FieldReader(const json& obj, absl::string_view source, std::string prefix = "")
      : obj_(obj), source_(source), prefix_(std::move(prefix)) {}

  absl::Status Error(absl::string_view key, absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ": field '", prefix_, key, "': ", what));
  }

  // Returns nullptr when absent (or null and `null_is_absent`).
  const json* Find(absl::string_view key) const {
    auto it = obj_.find(std::string(key));
    if (it == obj_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  absl::Status Int(absl::string_view key, int64_t* out, bool required) const {
    const json* v = Find(key);
    if (v == nullptr) return required ? Error(key, "missing") : absl::OkStatus();
    if (v->is_number_integer() || v->is_number_unsigned()) {
      if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
        return Error(key, "integer out of range");
      }
      *out = v->get<int64_t>();
      return absl::OkStatus();
    }
    if (v->is_number_float()) {  // accept 4096.0, refuse 4096.5
      double d = v->get<double>();
      if (d == static_cast<double>(static_cast<int64_t>(d)) && d >= -9.0e15 && d <= 9.0e15) {
        *out = static_cast<int64_t>(d);
        return absl::OkStatus();
      }
    }
    return Error(key, absl::StrCat("expected an integer, got ", v->dump()));
  }

  absl::Status Double(absl::string_view key, double* out, bool required) const {
    const json* v = Find(key);
    if (v == nullptr) return required ? Error(key, "missing") : absl::OkStatus();
    if (!v->is_number()) return Error(key, absl::StrCat("expected a number, got ", v->dump()));
    *out = v->get<double>();
    return absl::OkStatus();
  }

  absl::Status Bool(absl::string_view key, bool* out, bool required) const {
    const json* v = Find(key);
    if (v == nullptr) return required ? Error(key, "missing") : absl::OkStatus();
    if (!v->is_boolean()) return Error(key, absl::StrCat("expected true/false, got ", v->dump()));
    *out = v->get<bool>();
    return absl::OkStatus();
  }

  absl::Status String(absl::string_view key, std::string* out, bool required) const {
    const json* v = Find(key);
    if (v == nullptr) return required ? Error(key, "missing") : absl::OkStatus();
    if (!v->is_string()) return Error(key, absl::StrCat("expected a string, got ", v->dump()));
    *out = v->get<std::string>();
    return absl::OkStatus();
  }

  absl::Status StringList(absl::string_view key, std::vector<std::string>* out) const {
    const json* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_array()) return Error(key, "expected an array of strings");
    out->clear();
    for (const auto& e : *v) {
      if (!e.is_string()) return Error(key, "expected an array of strings");
      out->push_back(e.get<std::string>());
    }
    return absl::OkStatus();
  }

  absl::Status IntList(absl::string_view key, std::vector<int64_t>* out, bool required) const {
    const json* v = Find(key);
    if (v == nullptr) return required ? Error(key, "missing") : absl::OkStatus();
    if (!v->is_array()) return Error(key, "expected an array of integers");
    out->clear();
    for (const auto& e : *v) {
      if (!e.is_number_integer()) return Error(key, "expected an array of integers");
      out->push_back(e.get<int64_t>());
    }
    return absl::OkStatus();
  }

  absl::string_view source() const { return source_; }

 private:
  const json& obj_;
  absl::string_view source_;
  std::string prefix_;
};

}  // namespace r1::internal

#endif  // R1_COMMON_JSON_FIELD_READER_H_
