#!/usr/bin/env python3
"""Fails when a declaration in a synopsis of docs/api.md differs from the header's, or when a
header's public declaration is missing from the synopsis of its section.

A synopsis is a ```cpp block marked `<!-- doc-test: declarations -->` that opens `namespace
cosock`. Its section is the "## " heading above it ("## tcp.hpp"). Each declaration in it (a
function, constructor, operator, alias, variable, data member, class or enum head) must be, word
for word, a public declaration of lib/include/cosock: the same class, name, parameters with
their names, defaults, qualifiers, template head and requires clause. And each public declaration
of a header H must appear in a synopsis of the section "## H". What may differ:

- layout: declarations are compared as token lists, so spaces and line breaks do not count;
- comments, and the text of string literals (`"..."` in a synopsis stands for any string);
- a function's body or member initializers (`address(ep) : ip_(...) {}` is `address(ep);`),
  `inline`, `COSOCK_EXPORT` and attributes (`[[nodiscard]]`), and `typename` before a
  qualified name; `boost::system::error_code` is the `error_code` of cosock::detail;
- a later definition of an inline function declared before, which repeats the declaration
  without its default arguments;
- `= default`, which a synopsis may leave out (not add);
- a class's base in `cosock::detail`, which a synopsis leaves out: the base's public members
  (`detail::basic_stream<boost::asio::ip::tcp::socket>`'s `recv`) are shown as the class's own,
  with the base's template parameters replaced by the class's arguments (`Transport` by
  `boost::asio::ip::tcp::socket`). An inherited alias whose target is computed in detail
  (`typename where_of<...>::type`) is checked by its name only;
- copy and move constructors and assignments, which a synopsis may leave out (a comment
  `// move-only` says it better); deleted functions are not declarations here.

Enumerators are not compared, nor is what a synopsis's comments say. Declarations in
cosock/detail/*.hpp that are in namespace cosock itself (`nothrow`, `default_max_line`,
`basic_serve_options`) must match where a synopsis shows them, and be shown in some synopsis.

The headers and synopses are read by check_api_names.py's scanner. A new function needs its
declaration copied into the synopsis of its header's section (the output says which line is
missing); `--draft HEADER` prints every public declaration of a header in synopsis form, a start
for a new section. The checker tests itself first on a sample (SAMPLE_HEADER, SAMPLE_DOC).

Usage: check_api_signatures.py --root REPO [--draft tcp.hpp]
"""
import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_api_names import GENERATED, NOISE, PREPROCESSOR, blank, scan_header  # noqa: E402

TOKEN = re.compile(r"\w+|::|\.\.\.|&&|==|!=|<=|->|\S")
DROPPED = {"inline", "COSOCK_EXPORT"}
MARKER = re.compile(r"^\s*<!--\s*doc-test:\s*declarations\s*-->\s*$")


def tokens_of(text):
    """A declaration as a token list: layout, attributes and the words that do not count dropped."""
    text = re.sub(r"\[\[.*?\]\]", " ", text)
    toks = [t for t in TOKEN.findall(text) if t not in DROPPED]
    # cosock::detail's `error_code` is boost::system::error_code, which a synopsis spells out.
    toks = " ".join(toks).replace("boost :: system :: error_code", "error_code").split(" ")
    out = []
    for i, t in enumerate(toks):
        # `typename` before a qualified name (typename Protocol::acceptor) is a disambiguator.
        if t == "typename" and i + 2 < len(toks) and re.match(r"\w", toks[i + 1]) and toks[i + 2] in ("::", "<"):
            continue
        out.append(t)
    return out


def drop_initializers(toks):
    """Cuts a constructor's member initializers: `X(a) : a_(a)` -> `X(a)`."""
    depth, seen = 0, False
    for i, t in enumerate(toks):
        if t in "([{":
            depth += 1
        elif t in ")]}":
            depth -= 1
            seen = True
        elif t == ":" and depth == 0 and seen:
            return toks[:i]
    return toks


def drop_detail_bases(toks):
    """`class tcp_stream : public detail::basic_stream<...>` -> `class tcp_stream`."""
    if ":" in toks and "detail" in toks[toks.index(":"):]:
        return toks[:toks.index(":")]
    return toks


def normalise(head, kind):
    toks = tokens_of(head)
    if kind == "function":
        toks = drop_initializers(toks)
    if kind == "type":
        toks = drop_detail_bases(toks)
    return " ".join(toks)


def pretty(norm):
    """A token list shown as C++ again: `std :: size_t max` -> `std::size_t max`."""
    text = re.sub(r" ?(::|\.\.\.) ?", r"\1", norm)
    text = re.sub(r" ([,;)>\]])", r"\1", text)
    text = re.sub(r"([(<\[]) ", r"\1", text)
    text = re.sub(r"(\w|>) ([&*]+)(?=[ ,)>]|$)", r"\1\2", text)
    text = re.sub(r"(\w) ([(<])", r"\1\2", text)
    text = re.sub(r"\b(requires|return)([(<])", r"\1 \2", text)
    text = re.sub(r"\boperator ?(\S+?) ?\(", r"operator\1(", text).replace("operator()(", "operator()(")
    text = re.sub(r"operator\(\) ?\(", "operator()(", text)
    text = re.sub(r"> \(", ">(", text).replace("~ ", "~").replace("{ }", "{}")
    return text.replace("template<", "template <")


def without_defaults(norm):
    """A function's parameters without their default arguments: how a later definition of an
    inline function declared earlier repeats it (`auto resolve(address a, int f = 0);` ...
    `inline auto resolve(address a, int f) { ... }`)."""
    out, depth, skipping = [], 0, False
    for t in norm.split(" "):
        if t in ("(", "<", "{", "["):
            depth += 1
        elif t in (")", ">", "}", "]"):
            depth -= 1
            if depth == 0:
                skipping = False
        if depth == 1 and t == "," :
            skipping = False
        if depth == 1 and t == "=" and not skipping:
            skipping = True
        if not skipping:
            out.append(t)
    return " ".join(out)


def split_top(text, sep=","):
    """Splits `a<b, c>, d` at the commas outside brackets."""
    parts, depth, cur = [], 0, ""
    for c in text:
        depth += c in "<([{"
        depth -= c in ">)]}"
        if c == sep and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += c
    if cur.strip():
        parts.append(cur.strip())
    return parts


def template_params(head):
    """`template <class Transport> class basic_stream ...` -> ["Transport"]."""
    m = re.match(r"\s*template\s*<(.*?)>\s*(?:class|struct)\b", " ".join(head.split()))
    if not m:
        return []
    return [re.findall(r"(\w+)\s*(?:=.*)?$", p.split("=")[0].strip())[0] for p in split_top(m.group(1))]


def detail_bases(head):
    """The `basic_*` bases of a class head, with their arguments: [("basic_stream", ["T"])]."""
    h = " ".join(head.split())
    h = re.sub(r"^template\s*<.*?>\s*(?=class|struct)", "", h)
    m = re.match(r"(?:class|struct)\s+(?:COSOCK_EXPORT\s+)?\w+\s*(?:final\s*)?:(.*)$", h)
    if not m:
        return []
    bases = []
    for spec in split_top(m.group(1)):
        b = re.search(r"\b(basic_\w+)\s*<(.*)>\s*$", spec)
        if b:
            bases.append((b.group(1), split_top(b.group(2))))
    return bases


def substitute(norm, mapping):
    """Replaces whole tokens of `norm` by the (normalised) arguments in `mapping`."""
    return " ".join(mapping.get(t, t) for t in norm.split(" "))


class Decl:
    def __init__(self, where, line, cls, name, kind, norm, inherited=False):
        self.where, self.line, self.cls, self.name, self.kind, self.norm = where, line, cls, name, kind, norm
        self.inherited, self.origin = inherited, where

    def special(self):
        """A copy or move constructor or assignment: a synopsis may leave it out."""
        c = self.cls
        return c is not None and bool(re.fullmatch(
            rf"(?:{c} \( (?:const )?{c} (?:&|&&)(?: \w+)? \)|{c} & operator = \( (?:const )?{c} (?:&|&&)(?: \w+)? \))"
            r"(?: noexcept)?(?: = default)?", self.norm))

    def matches(self, norm):
        return norm in (self.norm, re.sub(r" = default$", "", self.norm))

    def computed_alias(self):
        return self.inherited and self.kind == "alias" and re.search(r"\bwhere_of\b|::\s*type\b", self.norm)


# The head of a shared base template in cosock::detail, which the scanner does not record itself.
BASE_HEAD = re.compile(r"template\s*<[^{;]*?>\s*class\s+(?:COSOCK_EXPORT\s+)?(basic_\w+)\b[^{;]*\{")


def read_header(path, display):
    """Every public declaration of one header, and its class heads (for the bases)."""
    return read_source(path.read_text(encoding="utf-8"), display)


def read_source(source, display):
    decls, heads = [], {}
    for line, cls, name, kind, _, head in scan_header(source, with_head=True):
        if not name or re.search(r"::\s*operator\b", head):  # X<T>::operator()(...) { }: defined here
            continue
        decls.append(Decl(display, line, cls, name, kind, normalise(head, kind)))
        if kind == "type" and cls is None:
            heads[name] = head
    text = PREPROCESSOR.sub(blank, NOISE.sub(blank, source))
    for m in BASE_HEAD.finditer(text):
        heads[m.group(1)] = m.group(0)[:-1]
    return decls, heads


# Whether each transport satisfies `data_readiness` (cosock/detail/basic_stream.hpp): the members
# of basic_stream constrained by it exist in a class exactly when its transport is listed True,
# and a synopsis shows them there without the clause. A new transport needs its line here.
DATA_READINESS = {
    "boost :: asio :: ip :: tcp :: socket": True,
    "boost :: asio :: local :: stream_protocol :: socket": True,
    "detail :: memory_transport": True,
    "detail :: tls_transport": False,
}


def readiness_member(norm):
    """`norm` without a trailing `requires data_readiness<T>`; None when T does not satisfy it."""
    m = re.search(r" requires data_readiness < (.*) >$", norm)
    if not m:
        return norm
    if m.group(1) not in DATA_READINESS:
        sys.exit(f"check_api_signatures: data_readiness<{m.group(1)}>: add it to DATA_READINESS")
    return norm[: m.start()] if DATA_READINESS[m.group(1)] else None


def with_inherited(decls, heads):
    """Adds to each class the members of its detail bases, their parameters replaced."""
    by_class = {}
    for d in decls:
        by_class.setdefault(d.cls, []).append(d)

    def inherited(cls, mapping, seen):
        """The public members of cls's detail bases, as (base member, its text for cls)."""
        out = []
        for base, args in detail_bases(heads.get(cls, "")):
            if base in seen:
                continue
            params = template_params(heads.get(base, ""))
            args = [substitute(" ".join(tokens_of(a)), mapping) for a in args]
            inner = dict(zip(params, args))
            for d in by_class.get(base, []):
                if d.name not in (base, "~" + base):  # the base's own constructors and destructor
                    out.append((d, substitute(d.norm, inner)))
            out += inherited(base, inner, seen | {base})
        return out

    where = {d.name: d.where for d in decls if d.cls is None and d.kind == "type"}
    extra = []
    for cls in heads:
        if cls.startswith("basic_"):
            continue
        own = {d.name for d in by_class.get(cls, [])}
        for d, norm in inherited(cls, {}, {cls}):
            if d.name in own:  # hidden by the class's own member of that name (tls_stream::shutdown)
                continue
            norm = readiness_member(norm)
            if norm is None:  # constrained away for this class (tls_stream has no wait_readable)
                continue
            extra.append(Decl(where.get(cls, d.where), d.line, cls, d.name, d.kind, norm, inherited=True))
            extra[-1].origin = d.where
    # The members of the detail base templates are shown only through the classes above.
    public = {d.name for d in decls if d.cls is None}
    return [d for d in decls if d.cls is None or d.cls in public] + extra


def synopses(text):
    """Yields (section, first line, block text) for each synopsis of api.md."""
    lines = text.splitlines()
    section = ""
    i = 0
    while i < len(lines):
        if m := re.match(r"##\s+(.*?)\s*$", lines[i]):
            section = m.group(1)
        if re.match(r"\s*```cpp\s*$", lines[i]) and i > 0 and MARKER.match(lines[i - 1]):
            start = i + 1
            i += 1
            while i < len(lines) and not re.match(r"\s*```\s*$", lines[i]):
                i += 1
            block = "\n".join(lines[start:i])
            if re.search(r"^\s*namespace\s+cosock(::\w+)?\s*\{", block, re.M):
                yield section, start + 1, block
        i += 1


def read_synopses(text):
    out = []
    for section, first, block in synopses(text):
        for line, cls, name, kind, _, head in scan_header(block, with_head=True):
            if name:
                out.append((section, first + line - 1, Decl(section, first + line - 1, cls, name, kind,
                                                             normalise(head, kind))))
    return out


def check(header_decls, doc_decls, doc_name="docs/api.md", header_dir="lib/include/cosock"):
    """The problems: (kind, name, message) with kind "unknown", "differs", "missing" or "unshown"."""
    problems = []
    index = {}
    for d in header_decls:
        index.setdefault((d.cls, d.name), []).append(d)
    shown = set()
    for section, line, s in doc_decls:
        candidates = index.get((s.cls, s.name), [])
        what = f"{s.cls}::{s.name}" if s.cls else s.name
        if not candidates:
            problems.append(("unknown", what, f"{doc_name}:{line}: {what} is declared in no header: {pretty(s.norm)}"))
            continue
        hit = [c for c in candidates if c.matches(s.norm)]
        if not hit and s.kind == "alias":
            hit = [c for c in candidates if c.computed_alias()]
        if not hit:
            problems.append(("differs", what, f"{doc_name}:{line}: {what} differs from its header; the synopsis says\n"
                             f"    {pretty(s.norm)}\n  and {header_dir}/{candidates[0].origin}:{candidates[0].line} says\n"
                             + "\n".join(f"    {pretty(c.norm)}" for c in candidates)))
            continue
        for c in hit:
            shown.add((id(c), section))
    sections = {section for section, _, _ in doc_decls}
    for d in header_decls:
        if d.special():
            continue
        what = f"{d.cls}::{d.name}" if d.cls else d.name
        if d.where.startswith("detail/"):
            if not any(i == id(d) for i, _ in shown):
                problems.append(("unshown", what, f"{header_dir}/{d.origin}:{d.line}: {what} is in namespace "
                                 f"cosock but in no synopsis of {doc_name}: {pretty(d.norm)}"))
            continue
        if d.where not in sections:
            continue  # reported once below
        if (id(d), d.where) not in shown and not any(
                (id(o), d.where) in shown and without_defaults(o.norm) == without_defaults(d.norm)
                for o in index.get((d.cls, d.name), [])):
            problems.append(("missing", what, f"{header_dir}/{d.origin}:{d.line}: {what} is missing from the "
                             f"synopsis of \"## {d.where}\" in {doc_name}: {pretty(d.norm)}"))
    return problems


SAMPLE_HEADER = r"""
namespace cosock {
inline constexpr int limit = 64 * 1024;
}
namespace cosock::detail {
template <class Transport>
class COSOCK_EXPORT basic_thing {
public:
    using socket_type = Transport;
    [[nodiscard]] auto recv(std::size_t max);
    int release() { return 0; }
protected:
    basic_thing() = default;
};
}
namespace cosock {
/// A widget.
class COSOCK_EXPORT widget : public detail::basic_thing<boost::asio::ip::tcp::socket> {
public:
    widget() = default;
    widget(widget&&) noexcept;
    explicit widget(int fd) : fd_(fd) {}
    template <class T, class Start, class Where>
    auto wrap(detail::op<T, Start, Where> op);
    friend bool operator==(const widget& a, const widget& b) noexcept { return a.fd_ == b.fd_; }
private:
    int fd_;
};
}
"""
SAMPLE_DOC = r"""
## widget.hpp

<!-- doc-test: declarations -->
```cpp
namespace cosock {

class widget {
public:
    using socket_type = boost::asio::ip::tcp::socket;
    widget();
    explicit widget(int fd);  // takes it over
    auto recv(std::size_t max);
    int release();
    template <class T, class Start>
    auto wrap(detail::op<T, Start> op);
    friend bool operator==(const widget&, const widget&) = default;
};

}
```
"""
SAMPLE_WANT = [("differs", "widget::wrap"), ("differs", "widget::operator=="), ("missing", "widget::wrap"),
               ("missing", "widget::operator=="), ("unshown", "limit")]


def self_test():
    decls, heads = [], {}
    cut = SAMPLE_HEADER.index("namespace cosock {\n/// A widget.")  # detail/thing.hpp, then widget.hpp
    for text, name in ((SAMPLE_HEADER[:cut], "detail/thing.hpp"), (SAMPLE_HEADER[cut:], "widget.hpp")):
        d, h = read_source(text, name)
        decls += d
        heads.update(h)
    problems = check(with_inherited(decls, heads), read_synopses(SAMPLE_DOC))
    if sorted(p[:2] for p in problems) != sorted(SAMPLE_WANT):
        sys.exit("check_api_signatures: the checker is broken: on its sample it found\n  "
                 + "\n  ".join(p[2] for p in problems) + f"\ninstead of {SAMPLE_WANT}")


def draft(decls, header):
    """A synopsis for one header, from its declarations (a start, to be commented by hand)."""
    print("namespace cosock {\n")
    classes = {d.name for d in decls if d.where == header and d.cls is None and d.kind == "type"}
    for d in sorted((d for d in decls if d.where == header and d.cls is None), key=lambda d: d.line):
        if d.name not in classes:
            print(pretty(d.norm) + ";")
            continue
        print(pretty(d.norm) + " {\npublic:")
        for m in [m for m in decls if m.cls == d.name and m.where == header]:
            print(f"    {pretty(m.norm)};")
        print("};")
    print("\n}  // namespace cosock")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="the cosock source tree")
    parser.add_argument("--draft", metavar="HEADER", help="print a draft synopsis of HEADER (tcp.hpp)")
    args = parser.parse_args()
    root = args.root.resolve()
    self_test()
    include = root / "lib/include/cosock"
    headers = sorted(p for p in include.glob("*.hpp") if p.name not in GENERATED)
    headers += sorted(include.glob("detail/*.hpp"))
    decls, heads = [], {}
    for path in headers:
        d, h = read_header(path, str(path.relative_to(include)))
        decls += d
        heads.update(h)
    decls = with_inherited(decls, heads)
    if args.draft:
        draft(decls, args.draft)
        return 0
    api = root / "docs/api.md"
    doc_decls = read_synopses(api.read_text(encoding="utf-8"))
    problems = check(decls, doc_decls)
    sections = {section for section, _, _ in doc_decls}
    for path in headers:
        name = str(path.relative_to(include))
        if not name.startswith("detail/") and name != "cosock.hpp" and name not in sections:
            problems.append(f"docs/api.md: no synopsis for {name} (a ```cpp block marked "
                            f"<!-- doc-test: declarations --> in \"## {name}\"; --draft {name} starts one)")
    for p in problems:
        print(p if isinstance(p, str) else p[2])
    print(f"check_api_signatures: {len(decls)} public declarations, {len(doc_decls)} in the synopses of "
          f"docs/api.md; {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
