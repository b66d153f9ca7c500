#!/usr/bin/env python3
"""tests/lint_coroutine_lambdas.py — finds coroutine lambdas that outlive their closure.

Usage: lint_coroutine_lambdas.py [--self-test] [ROOT]

Scans the C++ files (.cpp, .hpp) under ROOT/lib, tests, examples and bench and reports, one
`file:line: message` each, two patterns that are undefined behaviour or miscompiled:

1. A capturing lambda whose return type is a coroutine type (`task<`, `cosock::task<`,
   `awaitable<`, `asio::awaitable<`, `boost::asio::awaitable<`), invoked where it is written
   (`[&]() -> cosock::task<void> { ... }()`), in a statement that does not `co_await`. The
   coroutine reads its captures through the closure object, a temporary that dies at the end of
   the full-expression, while the coroutine runs later (`scope.spawn(...)`, `co_spawn(...)`,
   `launch(...)`). Awaited in the same statement (`co_await [&]() -> task<int> {...}();`) the
   closure outlives the coroutine, so that is allowed. Fix: a named coroutine function taking
   its arguments by value (or by reference to objects that outlive it), or a named closure
   variable that outlives the coroutine.
2. `co_await` in the argument list of `co_spawn(` (outside a lambda body): g++ 12 destroys
   temporaries of such a full-expression twice. Fix: await into a named variable first
   (`auto ex = co_await asio::this_coro::executor;`).

Comments and string literals are ignored. `--self-test` checks the checker on small snippets.
Exit status 0 when clean, 1 with one line per finding otherwise. Standard library only.
"""
import re
import sys
from pathlib import Path

DIRECTORIES = ("lib", "tests", "examples", "bench")
SUFFIXES = (".cpp", ".hpp")

# A lambda introducer through its coroutine return type; captures and parameters on one or more
# lines. The parameter list may hold one level of nested parentheses (default arguments).
LAMBDA = re.compile(
    r"\[(?P<captures>[^\[\]]*)\]\s*"
    r"(?:\((?:[^()]|\([^()]*\))*\)\s*)?"
    r"(?:mutable\s*)?(?:noexcept\s*)?"
    r"->\s*(?:(?:::)?boost::)?(?:(?:asio|cosock)::)?(?:task|awaitable)\s*<"
)
CO_SPAWN = re.compile(r"\bco_spawn\s*\(")
CO_AWAIT = re.compile(r"\bco_await\b")


def blank_comments_and_strings(text):
    """Returns text with comments, string and character literals replaced by spaces (newlines
    kept), so that offsets and line numbers stay those of the file."""
    out = list(text)
    i, n = 0, len(text)

    def blank(a, b):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            blank(i, j)
            i = j
        elif c == "R" and text.startswith('R"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'R"([^()\\\s]{0,16})\(', text[i:])
            if not m:
                i += 1
                continue
            end = text.find(")" + m.group(1) + '"', i + m.end())
            j = n if end < 0 else end + len(m.group(1)) + 2
            blank(i + 2, j - 1)
            i = j
        elif c in "\"'":
            # A digit separator (1'000) is not a character literal.
            if c == "'" and i > 0 and text[i - 1].isalnum() and i + 1 < n and text[i + 1].isalnum():
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            blank(i + 1, min(j, n))
            i = j + 1
        else:
            i += 1
    return "".join(out)


def matching(text, open_at):
    """Index of the bracket that closes the one at open_at, or -1."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack = [pairs[text[open_at]]]
    for k in range(open_at + 1, len(text)):
        c = text[k]
        if c in pairs:
            stack.append(pairs[c])
        elif c in ")]}":
            if not stack or stack[-1] != c:
                return -1
            stack.pop()
            if not stack:
                return k
    return -1


def awaited_where_written(text, at):
    """Whether the expression starting at offset `at` is the operand of a `co_await` of its own
    statement: `co_await EXPR`, `co_await f(a, EXPR)`, not `f(co_await a, EXPR)`. Walks back over
    balanced brackets to the statement's start (a `;`, or the `{` / `}` of an enclosing or
    preceding block); a `co_await` counts when no comma of its own bracket level lies between it
    and the expression."""
    depth = 0  # inside a bracketed group before the expression
    comma = False  # a comma at the current level lies between here and the expression
    k = at - 1
    while k >= 0:
        c = text[k]
        if c in ")]":
            depth += 1
        elif c in "([":
            if depth > 0:
                depth -= 1
            else:
                comma = False  # out to the enclosing level
        elif c == "}":
            after = text[k + 1 :].lstrip()[:1]
            if depth == 0 and after not in (",", ")", "]", ";", ".", "(", "}", "-", "+", "*", "&", "|", "?", ":"):
                return False  # the end of a preceding block
            depth += 1
        elif c == "{":
            if depth == 0:
                return False  # an enclosing block (or lambda body)
            depth -= 1
        elif c == ";" and depth == 0:
            return False
        elif c == "," and depth == 0:
            comma = True
        elif depth == 0 and not comma and text.startswith("co_await", k) and CO_AWAIT.match(text, k):
            if k == 0 or not (text[k - 1].isalnum() or text[k - 1] == "_"):
                return True
        k -= 1
    return False


def line_of(text, offset):
    return text.count("\n", 0, offset) + 1


def check_text(text):
    """Returns [(line, message)] for one file's text."""
    code = blank_comments_and_strings(text)
    found = []
    for m in LAMBDA.finditer(code):
        if not m.group("captures").strip():
            continue  # no captures: the closure holds nothing the coroutine reads
        body = code.find("{", m.end())
        if body < 0:
            continue
        end = matching(code, body)
        if end < 0:
            continue
        if not code[end + 1 :].lstrip().startswith("("):
            continue  # not invoked where it is written
        if awaited_where_written(code, m.start()):
            continue  # awaited in the same full-expression: the closure outlives the coroutine
        found.append(
            (
                line_of(code, m.start()),
                "capturing coroutine lambda invoked in a statement that does not co_await it: "
                "its closure dies before the coroutine runs (use a named coroutine function "
                "or a named closure that outlives it)",
            )
        )
    for m in CO_SPAWN.finditer(code):
        open_at = m.end() - 1
        close = matching(code, open_at)
        if close < 0:
            continue
        depth = 0
        k = open_at + 1
        while k < close:
            c = code[k]
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            elif depth == 0 and code.startswith("co_await", k) and CO_AWAIT.match(code, k):
                if k == 0 or not (code[k - 1].isalnum() or code[k - 1] == "_"):
                    found.append(
                        (
                            line_of(code, k),
                            "co_await in the arguments of co_spawn: g++ 12 destroys this "
                            "full-expression's temporaries twice (await into a named variable "
                            "first)",
                        )
                    )
                    break
            k += 1
    return sorted(found)


def check_tree(root):
    problems = []
    for directory in DIRECTORIES:
        base = root / directory
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if path.suffix not in SUFFIXES or not path.is_file():
                continue
            if "build" in path.relative_to(root).parts:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            for line, message in check_text(text):
                problems.append(f"{path.relative_to(root)}:{line}: {message}")
    return problems


# --- self-test: snippets the checker must flag, and ones it must let through -------------------

BAD = {
    "spawn": "void f(scope& s) {\n  s.spawn([&]() -> cosock::task<void> { co_await x; }());\n}\n",
    "launch, multi-line": (
        "void f() {\n  int n = 0;\n  launch(\n      [&n]() -> task<void> {\n        n = 1;\n"
        "        co_return;\n      }(),\n      op);\n}\n"
    ),
    "copy capture": "void f() { run([=]() mutable -> task<int> { co_return v; }()); }\n",
    "awaitable": "void f() { co_spawn(ex, [this]() -> boost::asio::awaitable<void> { co_return; }(), detached); }\n",
    "asio::awaitable, after an awaited statement": (
        "task<void> f() {\n  co_await g();\n  co_spawn(ex, [&]() -> asio::awaitable<void> { co_return; }(), d);\n}\n"
    ),
    "after a block": (
        "task<void> f() {\n  if (a) { co_await g(); }\n  s.spawn([&]() -> task<void> { co_return; }());\n}\n"
    ),
    "a sibling argument awaited": (
        "task<void> f() {\n  co_spawn(co_await this_coro::executor,\n      [&]() -> task<void> { co_return; }(), d);\n}\n"
    ),
    "co_await in co_spawn": (
        "task<void> f() {\n  asio::co_spawn(co_await asio::this_coro::executor, g(), asio::detached);\n}\n"
    ),
}

GOOD = {
    "awaited": "task<void> f() { int v = co_await [&]() -> task<int> { co_return 1; }(); }\n",
    "awaited through a wrapper": (
        "task<void> f() {\n  auto r = co_await move_on_after(\n      5s, [&]() -> cosock::task<int> { co_return 2; }());\n}\n"
    ),
    "no captures": "void f(scope& s) { s.spawn([](int& n) -> cosock::task<void> { n = 1; co_return; }(n)); }\n",
    "awaited co_spawn": (
        "task<void> f() {\n  co_await co_spawn(ex, [&]() -> asio::awaitable<void> { co_return; }(), use_awaitable);\n}\n"
    ),
    "named closure": (
        "void f() {\n  auto body = [&]() -> task<void> { co_return; };\n  launch(body(), op);\n}\n"
    ),
    "not invoked": "void f() { co_spawn(ex, [&]() -> asio::awaitable<void> { co_await g(); }, detached); }\n",
    "in a comment": "// s.spawn([&]() -> task<void> { co_return; }());\nvoid f();\n",
    "in a string": 'const char* s = "spawn([&]() -> task<void> { co_return; }())";\n',
    "named executor": (
        "task<void> f() {\n  auto ex = co_await asio::this_coro::executor;\n  asio::co_spawn(ex, g(), asio::detached);\n}\n"
    ),
    "co_await inside a co_spawned lambda body": (
        "void f() { co_spawn(ex, [](int n) -> asio::awaitable<void> { co_await g(n); }(1), detached); }\n"
    ),
    "ordinary lambda": "void f() { auto n = [&]() -> int { return 1; }(); }\n",
}


def self_test():
    failures = []
    for name, snippet in BAD.items():
        if not check_text(snippet):
            failures.append(f"self-test: not flagged, but should be: {name}")
    for name, snippet in GOOD.items():
        found = check_text(snippet)
        if found:
            failures.append(f"self-test: flagged, but should not be: {name}: {found}")
    # The line reported is the lambda's, not the statement's.
    lines = [line for line, _ in check_text(BAD["launch, multi-line"])]
    if lines != [4]:
        failures.append(f"self-test: multi-line case reported at {lines}, expected [4]")
    return failures


def main(argv):
    args = argv[1:]
    failures = self_test()
    if args and args[0] == "--self-test":
        args = args[1:]
        only_self_test = True
    else:
        only_self_test = False
    if not only_self_test:
        root = Path(args[0]) if args else Path(__file__).resolve().parent.parent
        failures += check_tree(root)
    for line in failures:
        print(line)
    if not failures:
        print("coroutine lambdas: clean" + (" (self-test only)" if only_self_test else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
