#include "coordinator/http/internal/request_json.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "coordinator/http/api_error.h"

namespace r1::http::internal {

using api::ApiKind;
using api::InvalidRequest;
using api::OpenAiRequest;

using json = nlohmann::json;

const char* TypeName(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer";
    case json::value_t::number_float:
      return "a decimal number";
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    default:
      return "an unsupported value";
  }
}

absl::Status WrongType(absl::string_view param, absl::string_view expected, const json& v) {
  return InvalidRequest(absl::StrCat("Invalid type for '", param, "': expected ", expected,
                                     ", but got ", TypeName(v), " instead."),
                        param, "invalid_type");
}

absl::Status BadValue(absl::string_view param, absl::string_view why) {
  return InvalidRequest(absl::StrCat("Invalid value for '", param, "': ", why), param,
                        "invalid_value");
}

absl::Status Unsupported(absl::string_view param, absl::string_view why) {
  return InvalidRequest(absl::StrCat("Unsupported parameter '", param, "': ", why), param,
                        "unsupported_parameter");
}

const json* Field(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

bool IsInteger(const json& v) { return v.is_number_integer() || v.is_number_unsigned(); }

absl::StatusOr<std::optional<bool>> OptBool(const json& obj, const char* key,
                                            absl::string_view param) {
  const json* v = Field(obj, key);
  if (v == nullptr) return std::optional<bool>();
  if (!v->is_boolean()) return WrongType(param, "a boolean", *v);
  return std::optional<bool>(v->get<bool>());
}

absl::StatusOr<std::optional<double>> OptNumber(const json& obj, const char* key) {
  const json* v = Field(obj, key);
  if (v == nullptr) return std::optional<double>();
  if (!v->is_number()) return WrongType(key, "a number", *v);
  const double d = v->get<double>();
  if (!std::isfinite(d)) return BadValue(key, "must be a finite number.");
  return std::optional<double>(d);
}

absl::StatusOr<std::optional<int64_t>> OptInt(const json& obj, const char* key) {
  const json* v = Field(obj, key);
  if (v == nullptr) return std::optional<int64_t>();
  if (!IsInteger(*v)) return WrongType(key, "an integer", *v);
  if (v->is_number_unsigned() &&
      v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return BadValue(key, "integer out of range.");
  }
  return std::optional<int64_t>(v->get<int64_t>());
}

}  // namespace r1::http::internal
