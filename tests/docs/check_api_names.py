#!/usr/bin/env python3
"""Fails when a public name of cosock's headers has no entry in docs/api.md, or when an entry of
docs/api.md names nothing in the headers (a renamed or removed function).

Public names: in lib/include/cosock/*.hpp (and detail/*.hpp, for the few names they declare in
namespace cosock itself, such as `nothrow`), everything declared in namespace cosock but not in
cosock::detail: classes, structs, enums, functions, variables and aliases; and the public members
of those classes: member functions (constructors, destructor, operators and friends included,
deleted ones excluded), member types and data members. Generated headers (export.hpp,
version.hpp) live in the build tree and are not read.

An entry is a bold code span outside code blocks: "- **`recv(max)`**: ..." documents `recv`. A
name declared in header H must have its entry in the section "## H" (or be the title of a
section "### name"); a member of class C in the section "### C" when there is one, else in
"## H", or anywhere as "**`C::name`**". A constructor's entry has parentheses
("**`address(host, port)`**"); the class's own entry does not count for it. An entry is stale
when its name is no identifier of any public declaration (parameter names count: "**`on_error`**").

The scanner is a brace-depth walk, not a C++ parser: comments, string literals and preprocessor
lines are blanked first (keeping offsets, so line numbers stay right); then each `{` opens a
namespace, class or other scope (a function body, an enum's list, an initializer: skipped), and
the text before each `;` or `{` at parenthesis depth 0 is one declaration. `private:` and
`protected:` sections are skipped. It is good enough for headers in this codebase's style, and
checks itself first on SAMPLE below (comments, strings, private members, detail, templates with
`requires`, out-of-class definitions), so a change that breaks it fails loudly.

Usage: check_api_names.py --root REPO
"""
import argparse
import re
import sys
from pathlib import Path

GENERATED = {"export.hpp", "version.hpp"}
NOISE = re.compile(r"//[^\n]*|/\*.*?\*/|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'", re.S)
# "tcp_stream::connect(to)" -> (tcp_stream, connect); "operator<<" -> (None, operator<<).
ENTRY = re.compile(r"(?:cosock::)?(?:(\w+)::)?(operator\s*(?:\(\)|[^\s\w(]+)|~?\w+)")
PREPROCESSOR = re.compile(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", re.M)


def blank(match):
    """Replaces a comment or literal by spaces, keeping its newlines (and so every offset)."""
    return re.sub(r"[^\n]", " ", match.group(0))


def strip_balanced(text, opener, open_char, close_char):
    """Removes every `opener` followed by a balanced open_char ... close_char group."""
    while (m := re.search(opener + r"\s*" + re.escape(open_char), text)):
        depth, i = 0, m.end() - 1
        for i in range(m.end() - 1, len(text)):
            depth += {open_char: 1, close_char: -1}.get(text[i], 0)
            if depth == 0:
                break
        text = text[:m.start()] + " " + text[i + 1:]
    return text


def declared_name(head):
    """The name a declaration declares, with its kind, or None (friend class, using namespace,
    deleted function, ...)."""
    h = " ".join(head.split())
    h = strip_balanced(h, r"\btemplate", "<", ">")
    h = strip_balanced(h, r"\brequires", "(", ")")
    h = re.sub(r"\[\[.*?\]\]|\bCOSOCK_EXPORT\b", " ", h).strip()
    if not h or re.match(r"(using\s+namespace|friend\s+(class|struct)|static_assert)\b", h):
        return None
    if m := re.match(r"using\s+(\w+)\s*=", h):
        return m.group(1), "alias"
    if re.match(r"using\b", h) or re.search(r"=\s*delete$", h):
        return None
    if m := re.match(r"(?:class|struct|union|enum(?:\s+class|\s+struct)?)\s+(\w+)", h):
        return m.group(1), "type"
    if m := re.search(r"\boperator\s*(\(\)|[^\s\w(]+)", h):
        return "operator" + m.group(1), "function"
    bare = h
    while re.search(r"<[^<>]*>", bare):  # template arguments may hold parentheses: drop them
        bare = re.sub(r"<[^<>]*>", "", bare)
    paren, equals = bare.find("("), bare.find("=")
    if paren >= 0 and (equals < 0 or paren < equals):
        m = re.search(r"(::)?\s*(~?\w+)\s*$", bare[:paren])
        if not m or m.group(1):  # X::f(...) { }: the definition of a member declared in X
            return None
        return m.group(2), "function"
    m = re.search(r"(\w+)\s*(?:\[[^\]]*\])?\s*$", bare[:equals] if equals >= 0 else bare)
    return (m.group(1), "variable") if m else None


def scan_header(source, bases=None, with_head=False):
    """Yields (line, class or None, name, kind, public words) for each public declaration. The
    public members of the shared base templates in cosock::detail (`basic_stream`, ...) count too,
    under their template's name; `bases` receives each class's such bases (tcp_stream ->
    [basic_stream]). With `with_head`, each tuple ends with the declaration's text (comments and
    string literals blanked): what check_api_signatures.py compares."""
    text = NOISE.sub(blank, source)
    text = PREPROCESSOR.sub(blank, text)
    # The scope stack: ("namespace", [names]) | ("class", name, access) | ("other",).
    stack, head, start, parens = [], "", 0, 0

    def where():
        """The public scope we are in: (True, class or None), or (False, None)."""
        names = [n for s in stack if s[0] == "namespace" for n in s[1]]
        classes = [s for s in stack if s[0] == "class"]
        shared_base = len(classes) == 1 and classes[0][1].startswith("basic_")
        if names[:1] != ["cosock"] or ("detail" in names and not shared_base) or any(
                s[0] == "other" for s in stack):
            return False, None
        if len(classes) > 1 or (classes and classes[0][2] != "public"):
            return False, None
        return True, classes[0][1] if classes else None

    def record(head, start):
        public, cls = where()
        found = declared_name(head) if public else None
        line = text.count("\n", 0, start) + 1
        words = set(re.findall(r"~?\w+", head))
        extra = (head,) if with_head else ()
        if found:
            yield (line, cls, found[0], found[1], words | {found[0]}) + extra
        elif not stack:  # a specialization such as fmt::formatter<cosock::address>: words only
            yield (line, None, None, None, words) + extra

    for i, c in enumerate(text):
        if c == "(":
            parens += 1
        elif c == ")":
            parens -= 1
        if parens or c not in "{};:":
            if not head.strip():
                start = i
            head += c
            continue
        if c == ":":
            if stack and stack[-1][0] == "class" and head.strip() in ("public", "private", "protected"):
                stack[-1] = ("class", stack[-1][1], head.strip())
                head = ""
            else:
                head += c
            continue
        if c == ";":
            yield from record(head, start)
        elif c == "{":
            h = strip_balanced(" ".join(head.split()), r"\btemplate", "<", ">").strip()
            h = re.sub(r"\[\[.*?\]\]|\bCOSOCK_EXPORT\b", " ", h).strip()
            if m := re.match(r"(?:inline\s+)?namespace\s*([\w:]*)$", h):
                stack.append(("namespace", m.group(1).split("::") if m.group(1) else [""]))
            elif m := re.match(r"(class|struct|union)\s+(\w+)\s*(final\b)?\s*(:[^()]*)?$", h):
                yield from record(head, start)
                if bases is not None and m.group(4):
                    bases[m.group(2)] = re.findall(r"\b(basic_\w+)\s*<", m.group(4))
                stack.append(("class", m.group(2), "private" if m.group(1) == "class" else "public"))
            else:  # a function body, an enum's list, an initializer: only its name counts
                yield from record(head, start)
                stack.append(("other",))
        else:  # "}"
            stack.pop()
        head = ""


# The scanner's own check, run first: each trap below must be skipped, each `want` name found.
SAMPLE = r"""
#define COSOCK_NOT_A_NAME(x) { x; }
namespace cosock {
// void in_a_comment();
/* class in_a_block_comment { void f(); }; */
inline constexpr const char* text = "namespace detail { void in_a_string(); } {";
class COSOCK_EXPORT widget : public base {
    friend class helper;
public:
    using handle = int;
    widget() = default;
    widget(const widget&) = delete;
    explicit widget(std::function<void(int, int)> f, std::string s = {"{"});
    ~widget();
    auto start(int n) { return detail::go(this, [n] { return n; }); }
    friend bool operator==(const widget&, const widget&) = default;
    int count = 0;
private:
    void hidden();
    struct state;
};
template <class T>
    requires(sizeof(T) > 1)
auto wrap(T t);
inline auto widget::start_later() { return 0; }
enum class colour { red, green };
}  // namespace cosock
namespace cosock::detail {
void plumbing();
}
"""
WANT = {(None, "text"), (None, "widget"), ("widget", "handle"), ("widget", "widget"),
        ("widget", "~widget"), ("widget", "start"), ("widget", "operator=="), ("widget", "count"),
        (None, "wrap"), (None, "colour")}


def self_test():
    found = {(cls, name) for _, cls, name, _, _ in scan_header(SAMPLE) if name}
    if found != WANT:
        sys.exit(f"check_api_names: the scanner is broken: missed {sorted(WANT - found, key=str)}"
                 f", wrongly found {sorted(found - WANT, key=str)}")


def scan_docs(path):
    """Yields (h2, h3, name, qualifier, has parentheses, line) for each bold entry of api.md."""
    h2 = h3 = ""
    fenced = False
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if re.match(r"\s*```", line):
            fenced = not fenced
            continue
        if fenced:
            continue
        if m := re.match(r"(#{2,3})\s+(.*?)\s*$", line):
            if m.group(1) == "##":
                h2, h3 = m.group(2), ""
            else:
                h3 = m.group(2)
        for entry in re.findall(r"\*\*`([^`]+)`\*\*", line):
            m = ENTRY.match(entry)
            if m:
                yield h2, h3, m.group(2).replace(" ", ""), m.group(1), "(" in entry, n


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="the cosock source tree")
    root = parser.parse_args().root.resolve()
    self_test()
    include = root / "lib/include/cosock"
    headers = sorted(p for p in include.glob("*.hpp") if p.name not in GENERATED)
    headers += sorted(include.glob("detail/*.hpp"))

    names, words = {}, set()  # (header, class, name) -> (line, kind); every public identifier
    bases = {}  # class -> its shared base templates
    for header in headers:
        display = str(header.relative_to(include))
        for line, cls, name, kind, heads in scan_header(header.read_text(encoding="utf-8"), bases):
            if name:
                names.setdefault((display, cls, name), (line, kind))
            words |= heads
    # A member of a shared base template (basic_stream::recv) is documented once, under any class
    # deriving from it (tcp_stream's recv); the template itself needs no entry.
    derived = {b: [c for c, bs in bases.items() if b in bs] for bs in bases.values() for b in bs}
    header_of = {n: h for (h, c, n) in names if c is None}
    if not names:
        sys.exit("check_api_names: found no public names at all: the scanner is broken")

    api = root / "docs/api.md"
    entries = list(scan_docs(api))
    sections = {h for e in entries for h in e[:2]}

    def documented(header, cls, name):
        if cls in derived:
            return any(documented(header_of.get(d, header), d, name) for d in derived[cls])
        if cls is None and name in derived:
            return True
        if cls is None and name in sections:  # "### listen_options" documents listen_options
            return True
        if header.startswith("detail/"):  # nothrow, basic_serve_options & co.: an entry anywhere
            return any(entry == name for _, _, entry, _, _, _ in entries)
        for h2, h3, entry, qualifier, parens, _ in entries:
            if entry != name:
                continue
            if cls is None and h2 == header:
                return True
            if cls is not None and (qualifier == cls or (
                    (h3 == cls if cls in sections else h2 == header)
                    and (parens or name != cls))):
                return True
        return False

    missing = [(h, c, n, line) for (h, c, n), (line, _) in names.items() if not documented(h, c, n)]
    stale = [(e[2], e[5]) for e in entries if e[2] not in words]
    for header, cls, name, line in missing:
        section = f"### {cls}" if cls in sections else f"## {header}"
        print(f"lib/include/cosock/{header}:{line}: {cls + '::' if cls else ''}{name} has no "
              f"entry (- **`{name}...`**: ...) in section \"{section}\" of docs/api.md")
    for name, line in stale:
        print(f"docs/api.md:{line}: the entry **`{name}`** names nothing in lib/include/cosock")
    print(f"check_api_names: {len(names)} public names, {len(entries)} entries in docs/api.md; "
          f"{len(missing)} undocumented, {len(stale)} stale")
    return 1 if missing or stale else 0


if __name__ == "__main__":
    sys.exit(main())
