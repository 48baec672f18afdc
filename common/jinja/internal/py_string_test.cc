// Python str semantics on UTF-8: expected values are CPython 3.11's.
#include "common/jinja/internal/py_string.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace r1::jinja::internal {
namespace {

using Strings = std::vector<std::string>;

TEST(PyStringTest, FloatRepr) {
  EXPECT_EQ(PyFloatRepr(0.0), "0.0");
  EXPECT_EQ(PyFloatRepr(-0.0), "-0.0");
  EXPECT_EQ(PyFloatRepr(1.0), "1.0");
  EXPECT_EQ(PyFloatRepr(0.1), "0.1");
  EXPECT_EQ(PyFloatRepr(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(PyFloatRepr(1e16), "1e+16");
  EXPECT_EQ(PyFloatRepr(1e15), "1000000000000000.0");
  EXPECT_EQ(PyFloatRepr(123456789012345678.0), "1.2345678901234568e+17");
  EXPECT_EQ(PyFloatRepr(1e-5), "1e-05");
  EXPECT_EQ(PyFloatRepr(1e-4), "0.0001");
  EXPECT_EQ(PyFloatRepr(0.0001234), "0.0001234");
  EXPECT_EQ(PyFloatRepr(1.5e300), "1.5e+300");
  EXPECT_EQ(PyFloatRepr(2.5e-300), "2.5e-300");
  EXPECT_EQ(PyFloatRepr(5e-324), "5e-324");
  EXPECT_EQ(PyFloatRepr(1.7976931348623157e308), "1.7976931348623157e+308");
  EXPECT_EQ(PyFloatRepr(100.0), "100.0");
  EXPECT_EQ(PyFloatRepr(-2.5), "-2.5");
  EXPECT_EQ(PyFloatRepr(12345.678), "12345.678");
  EXPECT_EQ(PyFloatRepr(1.0 / 0.0), "inf");
  EXPECT_EQ(PyFloatRepr(-1.0 / 0.0), "-inf");
}

TEST(PyStringTest, StringRepr) {
  EXPECT_EQ(PyStringRepr("a'b"), "\"a'b\"");
  EXPECT_EQ(PyStringRepr("a\"b"), "'a\"b'");
  EXPECT_EQ(PyStringRepr("a'\"b"), "'a\\'\"b'");
  EXPECT_EQ(PyStringRepr("tab\tnl\nbs\\"), "'tab\\tnl\\nbs\\\\'");
  EXPECT_EQ(PyStringRepr(std::string("\x00\x1f\x7f\xc2\x80\xc2\x9f\xc2\xa0\xc2\xad", 11)),
            "'\\x00\\x1f\\x7f\\x80\\x9f\\xa0\\xad'");
  EXPECT_EQ(PyStringRepr("é中😀"), "'é中😀'");
  EXPECT_EQ(PyStringRepr("\u200b\u2028\u3000\ue000\ufeff"),
            "'\\u200b\\u2028\\u3000\\ue000\\ufeff'");
}

TEST(PyStringTest, JsonString) {
  EXPECT_EQ(PyJsonString("a\"b", false), "\"a\\\"b\"");
  EXPECT_EQ(PyJsonString("tab\tnl\nbs\\", false), "\"tab\\tnl\\nbs\\\\\"");
  std::string controls("\x00\x1f\x7f\xc2\x80", 5);
  EXPECT_EQ(PyJsonString(controls, false), "\"\\u0000\\u001f\x7f\xc2\x80\"");
  EXPECT_EQ(PyJsonString(controls, true), "\"\\u0000\\u001f\\u007f\\u0080\"");
  EXPECT_EQ(PyJsonString("é中😀", false), "\"é中😀\"");
  EXPECT_EQ(PyJsonString("é中😀", true), "\"\\u00e9\\u4e2d\\ud83d\\ude00\"");
  EXPECT_EQ(PyJsonString("\u2028", false), "\"\u2028\"");
}

TEST(PyStringTest, SplitAndStrip) {
  EXPECT_EQ(PySplitWhitespace(" a  b\tc\n", -1), (Strings{"a", "b", "c"}));
  EXPECT_EQ(PySplitWhitespace("  a  b  ", 1), (Strings{"a", "b  "}));
  EXPECT_EQ(PyRSplitWhitespace("  a  b  ", 1), (Strings{"  a", "b"}));
  EXPECT_EQ(PySplitWhitespace("\u3000a\u00a0b", -1), (Strings{"a", "b"}));
  EXPECT_EQ(PySplitWhitespace("", -1), Strings{});
  EXPECT_EQ(PySplit("a</think>b</think>c", "</think>", -1), (Strings{"a", "b", "c"}));
  EXPECT_EQ(PySplit("a,b,c", ",", 1), (Strings{"a", "b,c"}));
  EXPECT_EQ(PySplit("", ",", -1), (Strings{""}));
  EXPECT_EQ(PyRSplit("a,b,c", ",", 1), (Strings{"a,b", "c"}));
  EXPECT_EQ(PySplitLines("x\ny\r\nz\rw\u2028v\n"), (Strings{"x", "y", "z", "w", "v"}));
  std::u32string x = U"x";
  EXPECT_EQ(PyStrip(" \t\u3000é \n", StripSide::kBoth, nullptr), "é");
  EXPECT_EQ(PyStrip("xxhixx", StripSide::kLeft, &x), "hixx");
  EXPECT_EQ(PyStrip("xxhixx", StripSide::kRight, &x), "xxhi");
}

TEST(PyStringTest, CaseMapping) {
  EXPECT_EQ(PyUpper("ÀÉÎõüß ÿ µ ı straße"), "ÀÉÎÕÜSS Ÿ Μ I STRASSE");
  EXPECT_EQ(PyLower("ÀÉÎ ΑΒΓ ДЖ Ÿ"), "àéî αβγ дж ÿ");
  EXPECT_EQ(PyTitle("ß hello wORLD 1st they're"), "Ss Hello World 1St They'Re");
  EXPECT_EQ(PyCapitalize("ßa"), "Ssa");
  EXPECT_EQ(PyCapitalize("hELLO"), "Hello");
  EXPECT_TRUE(PyIsLower("abc1"));
  EXPECT_FALSE(PyIsLower("aBc"));
  EXPECT_FALSE(PyIsLower("123"));
  EXPECT_TRUE(PyIsUpper("ÀB"));
}

TEST(PyStringTest, Utf8) {
  EXPECT_TRUE(IsValidUtf8("é中😀"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_EQ(CodePointCount("héllo😀"), 6u);
  EXPECT_EQ(EncodeUtf8(DecodeUtf8("a\u00e9\u4e2d\U0001F600")), "a\u00e9\u4e2d\U0001F600");
  EXPECT_EQ(HtmlEscape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&#34;x&#34;&gt;&#39;&amp;&#39;&lt;/a&gt;");
}

}  // namespace
}  // namespace r1::jinja::internal
