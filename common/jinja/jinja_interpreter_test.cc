// The interpreter's features, one construct at a time. In the feature tables (Whitespace...
// UndefinedAndSandbox, RuntimeErrors...) every expected string is what Python's jinja2 renders
// for the same template and context under transformers' settings
// (ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True), loopcontrols,
// transformers' tojson and raise_exception), and errors carry the same exception class. The
// tests after them check the API: error lines, parse errors, contexts, options.
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "common/jinja/chat_context.h"
#include "common/jinja/template.h"
#include "nlohmann/json.hpp"

namespace r1::jinja {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr absl::string_view kContext = R"({
  "x": {"a": [1, 2.5, null, true], "b": "q"},
  "d": {"k": "v"},
  "xs": [3, 1, 2],
  "s": " Héllo World ",
  "n": null,
  "msgs": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
})";

// Renders `tmpl` with kContext; "ERROR <message>" when parsing or rendering fails.
std::string R(absl::string_view tmpl) {
  auto t = Template::Parse(tmpl);
  if (!t.ok()) return "ERROR " + std::string(t.status().message());
  auto out = t->Render(nlohmann::ordered_json::parse(kContext));
  if (!out.ok()) return "ERROR " + std::string(out.status().message());
  return *out;
}

void ExpectError(absl::string_view tmpl, absl::string_view cls) {
  std::string got = R(tmpl);
  EXPECT_THAT(got, StartsWith("ERROR template line ")) << tmpl;
  EXPECT_THAT(got, HasSubstr(std::string(cls) + ":")) << tmpl;
}

TEST(JinjaInterpreterTest, WhitespaceControl) {
  EXPECT_EQ(R(R"(a
{% if true %}
b
{% endif %}
c)"),
            R"(a
b
c)");
  EXPECT_EQ(R(R"(a
    {% if true %}
    b
    {% endif %}
c)"),
            R"(a
    b
c)");
  EXPECT_EQ(R(R"(a
  {%+ if true %}
  b
  {% endif +%}
c)"),
            R"(a
    b

c)");
  EXPECT_EQ(R(R"(a  {{- 'x' -}}  b)"), R"(axb)");
  EXPECT_EQ(R(R"(a

{{- 'x' -}}

b)"),
            R"(axb)");
  EXPECT_EQ(R(R"(a
  {{ 1 }}  
)"),
            R"(a
  1  )");
  EXPECT_EQ(R(R"(  {#- comment -#}  
  x)"),
            R"(x)");
  EXPECT_EQ(R(R"({# comment #}
x)"),
            R"(x)");
  EXPECT_EQ(R(R"({%- for i in [1,2] -%}
  {{ i }}
{%- endfor -%})"),
            R"(12)");
  EXPECT_EQ(R(R"({% for i in [1,2] %}
  {{ i }}
{% endfor %}
)"),
            R"(  1
  2
)");
  EXPECT_EQ(R(R"({% raw -%}  {{ x }}  {%- endraw %}|)"), R"({{ x }}|)");
  EXPECT_EQ(R(R"(line1
line2
line3
)"),
            R"(line1
line2
line3)");
  EXPECT_EQ(R(R"(trailing newline kept once

)"),
            R"(trailing newline kept once
)");
}

TEST(JinjaInterpreterTest, LiteralsAndPrinting) {
  EXPECT_EQ(R(R"({{ [1, 'a', none, true, 1.5, {'k': 'v'}] }})"),
            R"([1, 'a', None, True, 1.5, {'k': 'v'}])");
  EXPECT_EQ(R(R"({{ (1, 2) }} {{ (1,) }} {{ () }} {{ [] }} {{ {} }})"), R"((1, 2) (1,) () [] {})");
  EXPECT_EQ(
      R(R"({{ 1e16 }} {{ 1e15 }} {{ 0.00001 }} {{ 1/3 }} {{ 0.1 + 0.2 }} {{ -0.0 }} {{ 3.0 }} {{ 1.5e300 }})"),
      R"(1e+16 1000000000000000.0 1e-05 0.3333333333333333 0.30000000000000004 -0.0 3.0 1.5e+300)");
  EXPECT_EQ(R(R"({{ 1_000 }} {{ 0x10 }} {{ 0b101 }} {{ 0o17 }} {{ 'a' 'b' }})"),
            R"(1000 16 5 15 ab)");
  EXPECT_EQ(R(R"({{ 'it''s' }} {{ "a\tb" }} {{ 'a\qb' }} {{ '\101\x42\u0043' }})"),
            R"(its a	b a\qb ABC)");
  EXPECT_EQ(R(R"({{ ["'", '"', 'a\nb', '\x01', '\u00a0', 'é', 'both \' and "'] }})"),
            R"(["'", '"', 'a\nb', '\x01', '\xa0', 'é', 'both \' and "'])");
  EXPECT_EQ(R(R"({{ ['\x7f', '\u200b', '\u3000', '\U0001F600'] }})"),
            R"(['\x7f', '\u200b', '\u3000', '😀'])");
  EXPECT_EQ(R(R"({{ none }} {{ true }} {{ false }} {{ undefined_name }}|)"),
            R"(None True False |)");
  EXPECT_EQ(R(R"({{ "}}" }}{{ '{%' }}{{ '{#' }})"), R"(}}{%{#)");
  EXPECT_EQ(R(R"({{ {'a': {'b': 1}} }} {{ {0: 'zero', 1.5: 'x', none: 'n', true: 't'} }})"),
            R"({'a': {'b': 1}} {0: 'zero', 1.5: 'x', None: 'n', True: 't'})");
}

TEST(JinjaInterpreterTest, Arithmetic) {
  EXPECT_EQ(
      R(R"({{ 1 + 2 * 3 - 4 / 2 }} {{ (1 + 2) * 3 }} {{ 2 * 3 ** 2 }} {{ 10 - 2 - 3 }} {{ -2 ** 2 }} {{ 2 ** 3 ** 2 }})"),
      R"(5.0 9 18 5 4 64)");
  EXPECT_EQ(
      R(R"({{ 7 / 2 }} {{ -7 // 2 }} {{ 7 // -2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 7.0 % -3 }} {{ 7.5 // 2 }} {{ 2 ** -2 }} {{ 2 ** 0.5 }})"),
      R"(3.5 -4 -4 2 -2 -2.0 3.0 0.25 1.4142135623730951)");
  EXPECT_EQ(
      R(R"({{ true + 1 }} {{ 'x' * 3 }} {{ [1] * 2 }} {{ 3 * 'ab' }} {{ 'a' * -1 }}|{{ [1, 2] + [3] }} {{ (1,) + (2,) }})"),
      R"(2 xxx [1, 1] ababab |[1, 2, 3] (1, 2))");
  EXPECT_EQ(R(R"({{ 'a' ~ 1 ~ none ~ true ~ 1.0 ~ [1] }} {{ 'a' ~ 'b' + 'c' }})"),
            R"(a1NoneTrue1.0[1] abc)");
  EXPECT_EQ(R(R"({{ -x.a[1] }} {{ +1 }} {{ - - 1 }})"), R"(-2.5 1 1)");
  EXPECT_EQ(
      R(R"({{ '%s-%d' % ('a', 3) }} {{ '%5s|%-3d|%.2f|%r' % ('a', 3, 2.5, 'q') }} {{ '%05d' % 42 }} {{ '%x' % 255 }})"),
      R"(a-3     a|3  |2.50|'q' 00042 ff)");
}

TEST(JinjaInterpreterTest, ComparisonsAndLogic) {
  EXPECT_EQ(
      R(R"({{ 1 == 1.0 }} {{ true == 1 }} {{ [1] == [1.0] }} {{ (1,) == [1] }} {{ none == 0 }} {{ {'a': 1} == {'a': 1} }})"),
      R"(True True True False False True)");
  EXPECT_EQ(
      R(R"({{ 'abc' > 'abd' }} {{ [2] > [1, 5] }} {{ 1 < 2.5 }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }})"),
      R"(False True True True False)");
  EXPECT_EQ(
      R(R"({{ 'ab' in ['ab'] }} {{ 'a' in 'cat' }} {{ 'x' in {'x': 1} }} {{ 'b' not in 'abc' }} {{ 'x' in undefined_name }})"),
      R"(True True True False False)");
  EXPECT_EQ(
      R(R"({{ true and 'x' }} {{ false or 'y' }} {{ 0 or none }} {{ 1 and 0 }} {{ not none }} {{ not [] }})"),
      R"(x y None 0 True True)");
  EXPECT_EQ(R(R"({{ 'x' if none else 'y' }} {{ 1 if 0 else 2 if 0 else 3 }} [{{ 'z' if false }}])"),
            R"(y 3 [])");
}

TEST(JinjaInterpreterTest, StringsAndMethods) {
  EXPECT_EQ(R(R"({{ 'abc'[-1] }}{{ 'héllo'[1:3] }}{{ 'abcdef'[1:-1:2] }}{{ 'abc'[::-1] }})"),
            R"(célbdcba)");
  EXPECT_EQ(
      R(R"({{ x.b.upper() }} {{ x['b'].startswith('q') }} {{ x.b.endswith(('a', 'q')) }} {{ 'abc'.startswith('b', 1) }})"),
      R"(Q True True True)");
  EXPECT_EQ(
      R(R"({{ 'a b  c '.split() }} {{ '  a  b  '.split(None, 1) }} {{ 'a b c'.rsplit(None, 1) }} {{ 'aXbXc'.split('X', 1) }} {{ 'a-b-c'.rsplit('-', 1) }})"),
      R"(['a', 'b', 'c'] ['a', 'b  '] ['a b', 'c'] ['a', 'bXc'] ['a-b', 'c'])");
  EXPECT_EQ(
      R(R"({{ 'a</think>b</think>c'.split('</think>')[-1] }} {{ 'a</think>b</think>c'.split('</think>', 1)[1] }} {{ ''.split() }} {{ ''.split(',') }})"),
      R"(c b</think>c [] [''])");
  EXPECT_EQ(
      R(R"({{ ' \t\nx\n '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ 'abc'.lstrip('a') }}|{{ 'abc'.rstrip('c') }})"),
      R"(x|hi|bc|ab)");
  EXPECT_EQ(
      R(R"({{ 'abc'.replace('', '-') }} {{ 'aaa'.replace('a', 'b', 2) }} {{ 'hello'.capitalize() }} {{ "they're here".title() }} {{ 'É'.lower() }})"),
      R"(-a-b-c- bba Hello They'Re Here é)");
  EXPECT_EQ(
      R(R"({{ '{}-{}'.format('a', 1) }} {{ '{0}{0}'.format('z') }} {{ '{n!r}'.format(n='q') }} {{ '{{}}'.format() }})"),
      R"(a-1 zz 'q' {})");
  EXPECT_EQ(
      R(R"({{ 'abc'.find('c') }} {{ 'abc'.find('z') }} {{ 'abcabc'.count('bc') }} {{ 'héllo'.index('l') }} {{ '-'.join(['a', 'b']) }} {{ 'x\ny\r\nz'.splitlines() }})"),
      R"(2 -1 2 2 a-b ['x', 'y', 'z'])");
  EXPECT_EQ(
      R(R"({{ d.get('k') }} {{ d.get('zz', 'dd') }} {{ d.get('zz') }} {{ d.keys() }} {{ d.values() }} {{ d.items() }} {{ d.items() | list }})"),
      R"(v dd None dict_keys(['k']) dict_values(['v']) dict_items([('k', 'v')]) [('k', 'v')])");
  EXPECT_EQ(R(R"({{ [1, 2, 1].count(1) }} {{ [1, 2].index(2) }})"), R"(2 1)");
}

TEST(JinjaInterpreterTest, Filters) {
  EXPECT_EQ(
      R(R"({{ s|trim|lower }} {{ s|title }} {{ s|capitalize }} {{ s|length }} {{ 'xxaxx'|trim('x') }} {{ 'x'|upper }})"),
      R"(héllo world  Héllo World   héllo world  13 a X)");
  EXPECT_EQ(
      R(R"({{ x|tojson }}|{{ x|tojson(indent=2) }}|{{ []|tojson(indent=2) }}|{{ 'é\u2028<>&\x7f\x00'|tojson }})"),
      R"({"a": [1, 2.5, null, true], "b": "q"}|{
  "a": [
    1,
    2.5,
    null,
    true
  ],
  "b": "q"
}|[]|"é <>&\u0000")");
  EXPECT_EQ(
      R(R"({{ {'a': 'é'}|tojson(ensure_ascii=true) }} {{ {'b': 1, 'a': [1, {'c': none}]}|tojson(sort_keys=true) }} {{ [1, 2]|tojson(separators=(',', ':')) }} {{ 1.0|tojson }} {{ {1: 2}|tojson }})"),
      R"({"a": "\u00e9"} {"a": [1, {"c": null}], "b": 1} [1,2] 1.0 {"1": 2})");
  EXPECT_EQ(
      R(R"({{ [3, 1, 2]|sort }} {{ [3, 1, 2]|sort(reverse=true) }} {{ ['b', 'A', 'a']|sort }} {{ ['b', 'A', 'c']|sort(case_sensitive=true) }} {{ msgs|sort(attribute='role')|map(attribute='role')|list }})"),
      R"([1, 2, 3] [3, 2, 1] ['A', 'a', 'b'] ['A', 'b', 'c'] ['assistant', 'user'])");
  EXPECT_EQ(
      R(R"({{ [1, 2, 3]|join(', ') }} {{ msgs|map(attribute='content')|join }} {{ msgs|map(attribute='content')|map('upper')|join(' ') }} {{ [{'n': 1}]|join(attribute='n') }})"),
      R"(1, 2, 3 hiyo HI YO 1)");
  EXPECT_EQ(
      R(R"({{ msgs|selectattr('role', 'equalto', 'user')|list }} {{ msgs|rejectattr('role', 'in', ['user'])|map(attribute='content')|list }} {{ x.a|select|list }} {{ x.a|reject('none')|list }})"),
      R"([{'role': 'user', 'content': 'hi'}] ['yo'] [1, 2.5, True] [1, 2.5, True])");
  EXPECT_EQ(
      R(R"({{ none|default('d') }} {{ undefined_name|default('d') }} {{ ''|default('d', true) }} {{ 0|d('z', boolean=true) }})"),
      R"(None d d z)");
  EXPECT_EQ(
      R(R"({{ 'abc'|first }}{{ [1, 2]|last }}{{ 'abc'|length }}{{ {'a': 1}|length }} {{ [] | first }}|{{ 'abc'|list }} {{ 'abc'|reverse }} {{ [1, 2]|reverse|list }})"),
      R"(a231 |['a', 'b', 'c'] cba [2, 1])");
  EXPECT_EQ(
      R(R"({{ 3.7|int }} {{ '12'|int }} {{ ' 7 '|int }} {{ '3.9'|int }} {{ 'x'|int }} {{ 'x'|int(5) }} {{ 'ff'|int(base=16) }} {{ 2|float }} {{ '1e3'|float }} {{ 'x'|float }})"),
      R"(3 12 7 3 0 5 255 2.0 1000.0 0.0)");
  EXPECT_EQ(
      R(R"({{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 3|round }} {{ 2.5|round(0, 'floor') }} {{ 2.1|round(method='ceil') }} {{ -5|abs }} {{ -2.5|abs }})"),
      R"(2.0 4.0 2.67 3 2.0 3.0 5 2.5)");
  EXPECT_EQ(
      R(R"({{ 'a\nb\n\nc'|indent(2) }}|{{ 'a\nb'|indent(2, true) }}|{{ 'a\n\nb'|indent('> ', blank=true) }})"),
      R"(a
  b

  c|  a
  b|a
> 
> b)");
  EXPECT_EQ(
      R(R"({{ [1, [2]]|string }} {{ 1|string }} {{ 'a<b'|e }} {{ ('<'|safe) + '<' }} {{ '<' + ('<'|safe) }} {{ ('%s'|safe) % '<' }})"),
      R"([1, [2]] 1 a&lt;b <&lt; &lt;< &lt;)");
  EXPECT_EQ(
      R(R"({{ {'b': 1, 'a': 2}|dictsort }} {{ {'b': 1, 'a': 2}|dictsort(by='value', reverse=true) }} {{ x|items|list }} {{ [1, 2, 2, 3, 1]|unique|list }} {{ ['a', 'A']|unique|list }})"),
      R"([('a', 2), ('b', 1)] [('a', 2), ('b', 1)] [('a', [1, 2.5, None, True]), ('b', 'q')] [1, 2, 3] ['a'])");
  EXPECT_EQ(
      R(R"({{ [1, 5, 3]|max }} {{ ['b', 'A']|min }} {{ [1.5, 2]|sum }} {{ [1, 2, 3]|batch(2)|list }} {{ [1, 2, 3]|batch(2, 0)|list }})"),
      R"(5 A 3.5 [[1, 2], [3]] [[1, 2], [3, 0]])");
  EXPECT_EQ(
      R(R"({{ xs|map('string')|list }} {{ xs|select('odd')|list }} {{ x|attr('b') }}|{{ '%s, %s'|format('a', 1) }} {{ 'abc'|replace('b', 'x') }})"),
      R"(['3', '1', '2'] [3, 1] |a, 1 axc)");
  EXPECT_EQ(
      R(R"({{ msgs|selectattr('role', 'equalto', 'nobody') and 'truthy' }} {{ msgs|selectattr('role', 'equalto', 'nobody')|list and 'truthy' }})"),
      R"(truthy [])");
  EXPECT_EQ(R(R"({{ xs|map('int')|list|tojson }})"), R"([3, 1, 2])");
}

TEST(JinjaInterpreterTest, Tests) {
  EXPECT_EQ(
      R(R"({{ undefined_name is defined }} {{ undefined_name is undefined }} {{ x.missing is defined }} {{ x.a is defined }} {{ none is none }} {{ 1 is not none }})"),
      R"(False True False True True True)");
  EXPECT_EQ(
      R(R"({{ x is mapping }} {{ x.a is iterable }} {{ 1 is iterable }} {{ 'a' is sequence }} {{ x.a is sequence }} {{ 'a' is string }} {{ 1 is number }})"),
      R"(True True False True True True True)");
  EXPECT_EQ(
      R(R"({{ 1 is integer }} {{ true is integer }} {{ 1.0 is float }} {{ true is boolean }} {{ false is false }} {{ 1 is true }})"),
      R"(True False True True True False)");
  EXPECT_EQ(
      R(R"({{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 10 is divisibleby(3) }} {{ 2 is eq 2 }} {{ 2 is ne 3 }} {{ 2 is lt 3 }} {{ 3 is ge 3 }} {{ 2 is gt(1) }} {{ 'a' is in 'abc' }})"),
      R"(True True True False True True True True True True)");
  EXPECT_EQ(
      R(R"({{ x is sameas x }} {{ none is sameas none }} {{ 'upper' is filter }} {{ 'nope' is filter }} {{ 'odd' is test }} {{ 'abc' is lower }} {{ 'aBc' is upper }})"),
      R"(True True True False True True False)");
}

TEST(JinjaInterpreterTest, Loops) {
  EXPECT_EQ(
      R(R"({% for x in [1, 2, 3] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %})"),
      R"(1032TrueFalse3;2121FalseFalse3;3210FalseTrue3;)");
  EXPECT_EQ(R(R"({% for x in [1, 2, 3] %}{{ loop.previtem }},{{ loop.nextitem }};{% endfor %})"),
            R"(,2;1,3;2,;)");
  EXPECT_EQ(R(R"({% for i in range(3) %}{{ loop.cycle('a', 'b') }}{% endfor %})"), R"(aba)");
  EXPECT_EQ(
      R(R"({% for i in range(5) if i is odd %}{{ loop.index }}/{{ loop.length }}:{{ i }} {% else %}none{% endfor %})"),
      R"(1/2:1 2/2:3 )");
  EXPECT_EQ(
      R(R"({% for i in [] %}x{% else %}empty{% endfor %} {% for i in undefined_name %}x{% else %}empty{% endfor %})"),
      R"(empty empty)");
  EXPECT_EQ(
      R(R"({% for i in range(5) %}{% if i == 3 %}{% break %}{% endif %}{% if i == 1 %}{% continue %}{% endif %}{{ i }}{% endfor %})"),
      R"(02)");
  EXPECT_EQ(
      R(R"({% for a, b in [[1, 2], [3, 4]] %}{{ a }}{{ b }}{% endfor %} {% for k, v in {'k': 'v', 'l': 1}.items() %}{{ k }}={{ v }};{% endfor %} {% for c in 'hé' %}{{ c }}.{% endfor %} {% for k in d %}{{ k }}{% endfor %})"),
      R"(1234 k=v;l=1; h.é. k)");
  EXPECT_EQ(
      R(R"({% for i in range(2) %}{% for j in range(2) %}{{ loop.index }}{{ i }}{% endfor %}{% endfor %} {% for i in range(2) %}{% set outer = loop %}{% for j in [0] %}{{ outer.index }}{% endfor %}{% endfor %})"),
      R"(10201121 12)");
  EXPECT_EQ(
      R(R"({{ range(5)|list }} {{ range(2, 5)|list }} {{ range(10, 0, -3)|list }} {{ range(5, 0)|list }})"),
      R"([0, 1, 2, 3, 4] [2, 3, 4] [10, 7, 4, 1] [])");
}

TEST(JinjaInterpreterTest, AssignmentAndScope) {
  EXPECT_EQ(
      R(R"({% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = 2 %}{{ x }}{% endfor %}{{ x }})"),
      R"(12121)");
  EXPECT_EQ(
      R(R"({% for i in [1, 2] %}{% if i == 2 %}{{ y }}{% endif %}{% set y = i %}{% endfor %}[{{ y }}])"),
      R"([])");
  EXPECT_EQ(R(R"({% set x = 1 %}{% if true %}{% set x = 2 %}{% endif %}{{ x }})"), R"(2)");
  EXPECT_EQ(
      R(R"({% set ns = namespace(count=0, items=[]) %}{% for m in msgs %}{% set ns.count = ns.count + 1 %}{% set ns.items = ns.items + [m.role] %}{% endfor %}{{ ns.count }} {{ ns.items }} {{ ns }})"),
      R"(2 ['user', 'assistant'] <Namespace {'count': 2, 'items': ['user', 'assistant']}>)");
  EXPECT_EQ(R(R"({% set a, b = 1, 2 %}{{ a }}{{ b }} {% set t = (1, 2) %}{{ t }} {{ t[0] }})"),
            R"(12 (1, 2) 1)");
  EXPECT_EQ(R(R"({% set x %}in{{ 1 }}{% endset %}[{{ x }}])"), R"([in1])");
  EXPECT_EQ(R(R"({% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}])"), R"(3[])");
  EXPECT_EQ(R(R"({{ namespace(a=1).a }} {{ namespace({'a': 1}, b=2) }} {{ dict(a=1, b='x') }})"),
            R"(1 <Namespace {'a': 1, 'b': 2}> {'a': 1, 'b': 'x'})");
}

TEST(JinjaInterpreterTest, Macros) {
  EXPECT_EQ(
      R(R"({% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }} {{ greet(punct='.', name='C') }} [{{ greet() }}])"),
      R"(Hi A! Hi B? Hi C. [Hi !])");
  EXPECT_EQ(
      R(R"({% macro rec(n) %}{% if n > 0 %}{{ n }}{{ rec(n - 1) }}{% endif %}{% endmacro %}{{ rec(5) }})"),
      R"(54321)");
  EXPECT_EQ(R(R"({% macro m() %}{{ outer }}{% endmacro %}{% set outer = 'o' %}{{ m() }})"), R"(o)");
}

TEST(JinjaInterpreterTest, UndefinedAndSandbox) {
  EXPECT_EQ(
      R(R"({{ undefined_name ~ 'a' }} {{ none.x }}|{{ x.b.nope }}|{{ d.pop }}|{{ [1][5] }}|{{ xs[1.5] }}|)"),
      R"(a |||||)");
  EXPECT_EQ(R(R"({{ d.x }}|{{ d['x'] }}|{{ x.missing|default([])|length }})"), R"(||0)");
}

// Inputs Jinja2 rejects are errors here too, with the same exception class.
TEST(JinjaInterpreterTest, RuntimeErrorsNameTheExceptionAndLine) {
  ExpectError(R"({{ undefined_name.attr }})", "UndefinedError");
  ExpectError(R"({{ 'a' + undefined_name }})", "UndefinedError");
  ExpectError(R"({{ d.x.y }})", "UndefinedError");
  ExpectError(R"({{ undefined_name() }})", "UndefinedError");
  ExpectError(R"({{ 'a' + 1 }})", "TypeError");
  ExpectError(R"({{ 1 + 'a' }})", "TypeError");
  ExpectError(R"({{ [1] + 'a' }})", "TypeError");
  ExpectError(R"({{ none + 1 }})", "TypeError");
  ExpectError(R"({{ 'a' * 1.5 }})", "TypeError");
  ExpectError(R"({{ 'abc' < 1 }})", "TypeError");
  ExpectError(R"({{ [1, 'a']|sort }})", "TypeError");
  ExpectError(R"({{ none|length }})", "TypeError");
  ExpectError(R"({{ msgs|map(attribute='role')|length }})", "TypeError");
  ExpectError(R"({{ msgs|map(attribute='role')|tojson }})", "TypeError");
  ExpectError(R"({{ undefined_name|tojson }})", "TypeError");
  ExpectError(R"({{ 1 in 'abc' }})", "TypeError");
  ExpectError(R"({{ [1] in {'a': 1} }})", "TypeError");
  ExpectError(R"({{ 'a'() }})", "TypeError");
  ExpectError(R"({{ -'a' }})", "TypeError");
  ExpectError(R"({{ 5 / 0 }})", "ZeroDivisionError");
  ExpectError(R"({{ 5 // 0 }})", "ZeroDivisionError");
  ExpectError(R"({{ 'abc'.index('z') }})", "ValueError");
  ExpectError(R"({% for a, b in [[1]] %}{% endfor %})", "ValueError");
  ExpectError(R"({% for i in 5 %}{% endfor %})", "TypeError");
  ExpectError(R"({{ d.pop('k') }})", "SecurityError");
  ExpectError(R"({% set l = [] %}{{ l.append(1) }})", "SecurityError");
  ExpectError(R"({{ range(200000)|length }})", "OverflowError");
  ExpectError(R"({{ range(0, 10, 0) }})", "ValueError");
  ExpectError(R"({% macro m(a) %}{% endmacro %}{{ m(1, 2) }})", "TypeError");
  ExpectError(R"({% set x.y = 1 %})", "TemplateRuntimeError");
  ExpectError(R"({{ msgs|map(attribute='content')|sum(start='') }})", "TypeError");
  ExpectError(R"({{ raise_exception('Only user and assistant roles are supported!') }})",
              "TemplateError");
}

TEST(JinjaInterpreterTest, ErrorsNameTheirLine) {
  EXPECT_EQ(R("a\nb\n{{ 'x' + 1 }}"),
            "ERROR template line 3: TypeError: can only concatenate str (not \"int\") to str");
  EXPECT_EQ(R("{% for m in msgs %}\n{% if m.role == 'assistant' %}\n{{ raise_exception('no "
              "assistant') }}\n{% endif %}\n{% endfor %}"),
            "ERROR template line 3: TemplateError: no assistant");
  auto t = Template::Parse("{{ x }}");
  ASSERT_TRUE(t.ok());
  auto out = t->Render(nlohmann::ordered_json::parse(R"({"x": 1})"));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "1");
  auto err = Template::Parse("{% if a %}\n{{ raise_exception('x') }}\n{% endif %}")
                 ->Render(nlohmann::ordered_json::parse(R"({"a": true})"));
  EXPECT_EQ(err.status().code(), absl::StatusCode::kInvalidArgument);
}

// Templates Jinja2 refuses to compile are refused by Parse, with the line.
TEST(JinjaInterpreterTest, ParseErrors) {
  auto parse_error = [](absl::string_view tmpl) {
    auto t = Template::Parse(tmpl);
    return t.ok() ? std::string("parsed") : std::string(t.status().message());
  };
  EXPECT_THAT(parse_error("{% if x %}unterminated"), StartsWith("template line 1: "));
  EXPECT_THAT(parse_error("a\n{{ x "), StartsWith("template line 2: "));
  EXPECT_THAT(parse_error("{{ x }\n}"), HasSubstr("TemplateSyntaxError"));
  EXPECT_THAT(parse_error("\n\n{% endfor %}"), StartsWith("template line 3: "));
  EXPECT_THAT(parse_error("{% for %}{% endfor %}"), HasSubstr("TemplateSyntaxError"));
  EXPECT_THAT(parse_error("{{ x|no_such_filter }}"), HasSubstr("No filter named 'no_such_filter'"));
  EXPECT_THAT(parse_error("{% if false %}{{ x is no_such_test }}{% endif %}"),
              HasSubstr("No test named 'no_such_test'"));
  EXPECT_THAT(parse_error("{% include 'x.j2' %}"), HasSubstr("not supported"));
  EXPECT_THAT(parse_error("{% extends 'x.j2' %}"), HasSubstr("not supported"));
  EXPECT_THAT(parse_error("{% for i in x recursive %}{% endfor %}"), HasSubstr("recursive"));
  EXPECT_THAT(parse_error("{% break %}"), HasSubstr("outside a loop"));
  EXPECT_THAT(parse_error("{# never closed"), HasSubstr("Missing end of comment tag"));
  EXPECT_THAT(parse_error("{% raw %}never closed"), HasSubstr("Missing end of raw directive"));
  EXPECT_THAT(parse_error("{{ 'unterminated }}"), HasSubstr("unterminated string"));
  EXPECT_THAT(parse_error("{{ '\\x4' }}"), HasSubstr("truncated"));
  EXPECT_THAT(parse_error("{{ f(a=1, 2) }}"), HasSubstr("positional argument follows"));
  EXPECT_THAT(parse_error("{% set true = 1 %}"), HasSubstr("can't assign"));
  EXPECT_THAT(parse_error("{{ 99999999999999999999 }}"), HasSubstr("too large"));
  EXPECT_THAT(parse_error(std::string("{{ '\xff' }}")), HasSubstr("not valid UTF-8"));
  EXPECT_EQ(parse_error("{% generation %}x{% endgeneration %}"), "parsed");
}

TEST(JinjaInterpreterTest, ContextMustBeAnObject) {
  auto t = Template::Parse("x");
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->Render(nlohmann::ordered_json::array()).ok());
  EXPECT_FALSE(t->Render(nlohmann::json("str")).ok());
  nlohmann::json bad_utf8 = {{"x", std::string("\xc3")}};
  EXPECT_FALSE(t->Render(bad_utf8).ok());
}

// ordered_json keeps the request's key order (what Python sees); nlohmann::json sorts keys.
TEST(JinjaInterpreterTest, KeyOrderFollowsTheJsonType) {
  auto t = Template::Parse("{{ tool|tojson }} {% for k in tool %}{{ k }}{% endfor %}");
  ASSERT_TRUE(t.ok());
  const char* tool = R"({"tool": {"type": "function", "name": "f", "args": 1}})";
  EXPECT_EQ(*t->Render(nlohmann::ordered_json::parse(tool)),
            R"({"type": "function", "name": "f", "args": 1} typenameargs)");
  EXPECT_EQ(*t->Render(nlohmann::json::parse(tool)),
            R"({"args": 1, "name": "f", "type": "function"} argsnametype)");
}

TEST(JinjaInterpreterTest, ChatContextLikeTransformers) {
  ChatTemplateInputs in;
  in.messages = nlohmann::ordered_json::parse(R"([{"role": "user", "content": "hi"}])");
  in.add_generation_prompt = true;
  in.special_tokens = {{"bos_token", "<s>"}, {"eos_token", "</s>"}};
  in.kwargs = {{"thinking", true}, {"eos_token", "<eos>"}};
  auto ctx = BuildChatContext(in);
  ASSERT_TRUE(ctx.ok()) << ctx.status();
  EXPECT_EQ(ctx->dump(),
            R"({"messages":[{"role":"user","content":"hi"}],"tools":null,"documents":null,)"
            R"("add_generation_prompt":true,"bos_token":"<s>","eos_token":"<eos>",)"
            R"("thinking":true})");
  auto t = Template::Parse(
      "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}"
      "{% if add_generation_prompt %}>{% endif %}{{ thinking }}{{ tools is none }}");
  EXPECT_EQ(*t->Render(*ctx), "<s>hi>TrueTrue");

  ChatTemplateInputs bad = in;
  bad.kwargs = {{"messages", 1}};
  EXPECT_FALSE(BuildChatContext(bad).ok());
  bad = in;
  bad.tools = "not a list";
  EXPECT_FALSE(BuildChatContext(bad).ok());
  bad = in;
  bad.messages = nlohmann::ordered_json::object();
  EXPECT_FALSE(BuildChatContext(bad).ok());
  bad = in;
  bad.kwargs = nlohmann::ordered_json::array();
  EXPECT_FALSE(BuildChatContext(bad).ok());
}

// Non-default environments (for templates written for plain Jinja2).
TEST(JinjaInterpreterTest, ParseOptions) {
  ParseOptions plain;
  plain.trim_blocks = false;
  plain.lstrip_blocks = false;
  plain.keep_trailing_newline = true;
  auto t = Template::Parse("a\n  {% if true %}\nb\n  {% endif %}\n", plain);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t->Render(nlohmann::json::object()), "a\n  \nb\n  \n");
  ParseOptions small;
  small.max_source_bytes = 4;
  EXPECT_FALSE(Template::Parse("12345", small).ok());
}

}  // namespace
}  // namespace r1::jinja
