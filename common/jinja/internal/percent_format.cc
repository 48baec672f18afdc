// Printf-style `str % args` (declared in operators.h).
#include <cmath>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/jinja/internal/errors.h"
#include "common/jinja/internal/operators.h"
#include "common/jinja/internal/py_string.h"
#include "common/jinja/internal/value_format.h"

namespace r1::jinja::internal {
namespace {

std::string Pad(std::string s, bool left, int width) {
  int len = static_cast<int>(CodePointCount(s));
  if (len >= width) return s;
  std::string pad(width - len, ' ');
  return left ? s + pad : pad + s;
}

}  // namespace

absl::StatusOr<std::string> PercentFormat(absl::string_view fmt, const Value& args, bool escape) {
  ValueList list;
  bool single = !args.is_tuple();
  if (single) {
    list.push_back(args);
  } else {
    list = args.list();
  }
  size_t next = 0;
  std::string out;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out.push_back(fmt[i]);
      continue;
    }
    ++i;
    std::string flags;
    while (i < fmt.size() && std::string_view("-+ 0#").find(fmt[i]) != std::string_view::npos) {
      flags.push_back(fmt[i++]);
    }
    int width = 0;
    while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9' && width < 100000) {
      width = width * 10 + (fmt[i++] - '0');
    }
    int precision = -1;
    if (i < fmt.size() && fmt[i] == '.') {
      ++i;
      precision = 0;
      while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9' && precision < 100000) {
        precision = precision * 10 + (fmt[i++] - '0');
      }
    }
    if (width > 4096 || precision > 4096) {
      return absl::InvalidArgumentError("ValueError: format width or precision too large");
    }
    if (i >= fmt.size()) return absl::InvalidArgumentError("ValueError: incomplete format");
    char conv = fmt[i];
    if (conv == '%') {
      out.push_back('%');
      continue;
    }
    if (next >= list.size()) return TypeError("not enough arguments for format string");
    const Value& v = list[next++];
    if (v.is_undefined() && conv != 's') return UndefinedError(v);
    bool left = flags.find('-') != std::string::npos;
    switch (conv) {
      case 's':
      case 'r':
      case 'a': {
        std::string s = conv == 's' ? PyStr(v) : PyRepr(v);
        if (escape && !v.is_markup()) s = HtmlEscape(s);
        if (precision >= 0) {
          std::u32string cps = DecodeUtf8(s);
          if (cps.size() > static_cast<size_t>(precision)) s = EncodeUtf8(cps.substr(0, precision));
        }
        out += Pad(std::move(s), left, width);
        break;
      }
      case 'd':
      case 'i':
      case 'u':
      case 'x':
      case 'X':
      case 'o':
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G': {
        bool integral =
            conv != 'f' && conv != 'F' && conv != 'e' && conv != 'E' && conv != 'g' && conv != 'G';
        if (!v.is_number() || (integral && conv != 'd' && conv != 'i' && conv != 'u' &&
                               v.kind() == Value::Kind::kFloat)) {
          return TypeError(absl::StrCat("%", std::string(1, conv),
                                        " format: a real number is required, not ", v.TypeName()));
        }
        std::string spec = "%" + flags;
        if (width > 0) absl::StrAppend(&spec, width);
        if (precision >= 0) absl::StrAppend(&spec, ".", precision);
        char buf[8400];
        if (integral) {
          long long n = v.kind() == Value::Kind::kFloat
                            ? static_cast<long long>(std::trunc(v.as_float()))
                            : static_cast<long long>(v.as_int());
          spec += "ll";
          spec.push_back(conv == 'i' || conv == 'u' ? 'd' : conv);
          std::snprintf(buf, sizeof(buf), spec.c_str(), n);
        } else {
          spec.push_back(conv);
          std::snprintf(buf, sizeof(buf), spec.c_str(), v.number());
        }
        out += buf;
        break;
      }
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("ValueError: unsupported format character '", std::string(1, conv), "'"));
    }
  }
  if (next < list.size() && !(single && (args.is_dict() || args.is_list()))) {
    return TypeError("not all arguments converted during string formatting");
  }
  return out;
}

}  // namespace r1::jinja::internal
