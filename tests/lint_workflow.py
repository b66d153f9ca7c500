#!/usr/bin/env python3
"""tests/lint_workflow.py — checks a GitHub Actions workflow file without GitHub.

Usage: lint_workflow.py .github/workflows/ci.yml [more.yml ...]

Parses the file as YAML (PyYAML when installed; otherwise a small parser of the YAML subset that
workflow files use: block mappings and sequences, literal `|` blocks, quoted and plain scalars,
flow sequences), then checks what GitHub would reject or what would break silently: the top-level
keys, every job's `runs-on` and steps (each exactly one of `uses` / `run`, actions pinned to a
version), `needs` naming existing jobs without cycles, `${{ matrix.X }}` naming a matrix key,
presets named in `cmake`/`ctest --preset` existing in CMakePresets.json, and scripts named in
`run` steps existing in the repository. When PyYAML is present the fallback parser must agree
with it, so the fallback stays usable where PyYAML is missing. Exit status 0 when clean, 1 with one
line per problem otherwise. Standard library only (besides the optional PyYAML).
"""
import json
import re
import sys
from pathlib import Path

# --- a parser for the YAML subset of workflow files --------------------------------------------


class YamlError(Exception):
    pass


def _strip_comment(text):
    """Drops a trailing comment: '#' at the start or after a blank, outside quotes."""
    quote = None
    for i, c in enumerate(text):
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"" and (i == 0 or text[i - 1] in " [{,:-"):
            quote = c
        elif c == "#" and (i == 0 or text[i - 1] in " \t"):
            return text[:i].rstrip()
    return text.rstrip()


def _split_top(text, sep):
    """Splits on `sep` outside quotes and brackets."""
    parts, depth, quote, start = [], 0, None, 0
    for i, c in enumerate(text):
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        elif c == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")
_FLOAT = re.compile(r"^[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$")


def _scalar(text, where):
    text = text.strip()
    if not text or text in ("~", "null", "Null", "NULL"):
        return None
    if text[0] == "'":
        if len(text) < 2 or text[-1] != "'":
            raise YamlError(f"{where}: unterminated single-quoted string")
        return text[1:-1].replace("''", "'")
    if text[0] == '"':
        if len(text) < 2 or text[-1] != '"':
            raise YamlError(f"{where}: unterminated double-quoted string")
        return json.loads(text)  # same escapes as YAML for what workflows use
    if text[0] == "[":
        if text[-1] != "]":
            raise YamlError(f"{where}: unterminated flow sequence")
        inner = text[1:-1].strip()
        return [] if not inner else [_scalar(p, where) for p in _split_top(inner, ",")]
    if text[0] == "{":
        if text[-1] != "}":
            raise YamlError(f"{where}: unterminated flow mapping")
        inner, out = text[1:-1].strip(), {}
        for p in _split_top(inner, ",") if inner else []:
            k, _, v = p.partition(":")
            out[_scalar(k, where)] = _scalar(v, where)
        return out
    if text[0] in "&*!|>%@`":
        raise YamlError(f"{where}: '{text[0]}' is outside the YAML subset this parser reads")
    if ": " in text or text.endswith(":"):
        raise YamlError(f"{where}: a ': ' inside a plain value (quote the value)")
    lower = text.lower()
    if lower in ("true", "yes", "on"):
        return True
    if lower in ("false", "no", "off"):
        return False
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text


def _key_value(text):
    """'key: value' -> (key, value); 'key:' -> (key, ''); else None."""
    parts = _split_top(text, ":")
    head = ""
    for i, part in enumerate(parts[:-1]):
        head = ":".join(parts[: i + 1])
        rest = ":".join(parts[i + 1 :])
        if rest == "" or rest[0] in " \t":
            return head, rest.strip()
    return None


class _Parser:
    def __init__(self, text, name):
        if "\t" in text:
            line = text[: text.index("\t")].count("\n") + 1
            raise YamlError(f"{name}:{line}: a tab character (YAML indents with spaces)")
        self.name = name
        self.lines = text.split("\n")
        if self.lines and self.lines[-1] == "":  # the end of the last line, not a line
            self.lines.pop()

    def where(self, i):
        return f"{self.name}:{i + 1}"

    def _content(self, i):
        return _strip_comment(self.lines[i])

    def _next(self, i):
        """Index of the next line with content (not blank, not only a comment), or len."""
        while i < len(self.lines) and not self._content(i).strip():
            i += 1
        return i

    def _indent(self, i):
        line = self.lines[i]
        return len(line) - len(line.lstrip(" "))

    def parse(self):
        i = self._next(0)
        if i < len(self.lines) and self._content(i).strip() == "---":
            i = self._next(i + 1)
        if i == len(self.lines):
            return None
        value, i = self._node(i, self._indent(i))
        i = self._next(i)
        if i < len(self.lines):
            raise YamlError(f"{self.where(i)}: unexpected indentation")
        return value

    def _is_item(self, i):
        text = self._content(i).strip()
        return text == "-" or text.startswith("- ")

    def _node(self, i, indent):
        if self._is_item(i):
            return self._sequence(i, indent)
        return self._mapping(i, indent)

    def _sequence(self, i, indent):
        out = []
        while i < len(self.lines) and self._indent(i) == indent and self._is_item(i):
            text = self._content(i).strip()
            rest = text[1:].lstrip(" ")
            if not rest:
                j = self._next(i + 1)
                if j < len(self.lines) and self._indent(j) > indent:
                    value, i = self._node(j, self._indent(j))
                else:
                    value, i = None, i + 1
            elif rest == "-" or rest.startswith("- "):  # "- - x": a sequence in a sequence
                column = indent + (len(text) - len(rest))
                self.lines[i] = " " * column + rest
                value, i = self._sequence(i, column)
            elif _key_value(rest) is not None and rest[0] not in "'\"[{":
                # "- key: value": a mapping whose first key sits after the dash; re-read the line
                # as if the dash were a blank so the mapping's other keys line up with it.
                column = indent + (len(text) - len(rest))
                self.lines[i] = " " * column + rest
                value, i = self._mapping(i, column)
            else:
                value, i = _scalar(rest, self.where(i)), i + 1
            out.append(value)
            i = self._next(i)
        if i < len(self.lines) and self._indent(i) > indent:
            raise YamlError(f"{self.where(i)}: unexpected indentation in a sequence")
        return out, i

    def _mapping(self, i, indent):
        out = {}
        while i < len(self.lines) and self._indent(i) == indent and not self._is_item(i):
            text = self._content(i).strip()
            kv = _key_value(text)
            if kv is None:
                raise YamlError(f"{self.where(i)}: expected 'key: value', got {text!r}")
            key = _scalar(kv[0], self.where(i))
            if key in out:
                raise YamlError(f"{self.where(i)}: duplicate key {kv[0]!r}")
            rest = kv[1]
            if rest and rest[0] in "|>":
                value, i = self._block(i, indent, rest)
            elif rest:
                value, i = _scalar(rest, self.where(i)), i + 1
            else:
                j = self._next(i + 1)
                if j < len(self.lines) and (
                    self._indent(j) > indent or (self._indent(j) == indent and self._is_item(j))
                ):
                    value, i = self._node(j, self._indent(j))
                else:
                    value, i = None, i + 1
            out[key] = value
            i = self._next(i)
        if i < len(self.lines) and self._indent(i) > indent:
            raise YamlError(f"{self.where(i)}: unexpected indentation in a mapping")
        return out, i

    def _block(self, i, indent, header):
        style, chomp = header[0], header[1:].strip()
        if chomp not in ("", "-", "+"):
            raise YamlError(f"{self.where(i)}: block header {header!r} is outside the subset")
        body, j, block_indent = [], i + 1, None
        while j < len(self.lines):
            line = self.lines[j]
            if line.strip():
                if self._indent(j) <= indent:
                    break
                if block_indent is None:
                    block_indent = self._indent(j)
                if self._indent(j) < block_indent:
                    raise YamlError(f"{self.where(j)}: block scalar line less indented than its first")
                body.append(line[block_indent:])
            else:
                body.append("")
            j += 1
        while body and body[-1] == "" and chomp != "+":
            body.pop()
        if style == "|":
            text = "\n".join(body)
        else:  # folded: lines of one paragraph joined by blanks
            text, previous = "", None
            for line in body:
                if line == "":
                    text += "\n"
                elif previous is None or previous == "":
                    text += line
                elif line.startswith(" ") or previous.startswith(" "):
                    text += "\n" + line
                else:
                    text += " " + line
                previous = line
        if body and chomp != "-":
            text += "\n"
        return text, j


def parse_subset(text, name="<yaml>"):
    return _Parser(text, name).parse()


# --- the checks --------------------------------------------------------------------------------

JOB_KEYS = {"name", "needs", "runs-on", "container", "services", "strategy", "env", "steps", "if",
            "timeout-minutes", "continue-on-error", "defaults", "permissions", "outputs",
            "concurrency", "environment", "uses", "with", "secrets"}
STEP_KEYS = {"name", "id", "if", "uses", "run", "with", "env", "shell", "working-directory",
             "continue-on-error", "timeout-minutes"}
TOP_KEYS = {"name", "run-name", "on", True, "jobs", "env", "permissions", "concurrency", "defaults"}
ACTION = re.compile(r"^(docker://\S+|\./\S+|[\w.-]+/[\w.-]+(/[\w./-]+)?@[\w./-]+)$")
MATRIX_REF = re.compile(r"\$\{\{\s*matrix\.([\w-]+)")
PRESET_USE = re.compile(r"\b(cmake|ctest)\b([^\n;&|]*?)--preset[= ]+(\$\{\{[^}]*\}\}|\S+)")
SCRIPT_USE = re.compile(r"(?<![\w./-])((?:\.ci|scripts|tests|bench|cmake)/[\w./-]+\.(?:sh|py|cmake))\b")


def _strings(node):
    """Every string in a parsed document (keys and values)."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)
    elif isinstance(node, str):
        yield node


def _presets(repo):
    """{'configure': {...}, 'build': {...}, 'test': {...}, 'workflow': {...}} from CMakePresets.json."""
    path = repo / "CMakePresets.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    return {kind: {p["name"] for p in data.get(f"{kind}Presets", [])}
            for kind in ("configure", "build", "test", "workflow")}


def _matrix_values(job, key):
    matrix = (job.get("strategy") or {}).get("matrix") or {}
    values = matrix.get(key)
    values = list(values) if isinstance(values, list) else []
    values += [inc[key] for inc in matrix.get("include") or [] if isinstance(inc, dict) and key in inc]
    return values


def check(wf, repo):
    problems = []
    if not isinstance(wf, dict):
        return ["the file is not a mapping"]
    for key in wf:
        if key not in TOP_KEYS:
            problems.append(f"unknown top-level key {key!r}")
    if "on" not in wf and True not in wf:
        problems.append("no 'on:' triggers")
    jobs = wf.get("jobs")
    if not isinstance(jobs, dict) or not jobs:
        return problems + ["no jobs"]
    presets = _presets(repo)

    for name, job in jobs.items():
        where = f"jobs.{name}"
        if not isinstance(job, dict):
            problems.append(f"{where}: not a mapping")
            continue
        problems += [f"{where}: unknown key {k!r}" for k in job if k not in JOB_KEYS]
        if "runs-on" not in job and "uses" not in job:
            problems.append(f"{where}: no runs-on")
        needs = job.get("needs") or []
        for need in [needs] if isinstance(needs, str) else needs:
            if need not in jobs:
                problems.append(f"{where}: needs unknown job {need!r}")
        matrix = (job.get("strategy") or {}).get("matrix") or {}
        keys = {k for k in matrix if k not in ("include", "exclude")}
        keys |= {k for inc in matrix.get("include") or [] if isinstance(inc, dict) for k in inc}
        for text in _strings(job):
            for ref in MATRIX_REF.findall(text):
                if ref not in keys:
                    problems.append(f"{where}: ${{{{ matrix.{ref} }}}} but the matrix has no {ref!r}")
            if text.count("${{") != len(re.findall(r"\$\{\{.*?\}\}", text, re.S)):
                problems.append(f"{where}: unterminated ${{{{ expression in {text[:60]!r}")
        steps = job.get("steps")
        if "uses" in job:
            continue
        if not isinstance(steps, list) or not steps:
            problems.append(f"{where}: no steps")
            continue
        for n, step in enumerate(steps):
            sw = f"{where}.steps[{n}]" + (f" ({step.get('name')})" if isinstance(step, dict) and step.get("name") else "")
            if not isinstance(step, dict):
                problems.append(f"{sw}: not a mapping")
                continue
            problems += [f"{sw}: unknown key {k!r}" for k in step if k not in STEP_KEYS]
            if ("uses" in step) == ("run" in step):
                problems.append(f"{sw}: needs exactly one of 'uses' and 'run'")
            if "uses" in step and not ACTION.match(str(step["uses"])):
                problems.append(f"{sw}: action {step['uses']!r} is not pinned to a version (owner/repo@v1)")
            run = step.get("run")
            if run is None:
                continue
            if not isinstance(run, str):
                problems.append(f"{sw}: 'run' is not a string")
                continue
            for tool, middle, preset in PRESET_USE.findall(run):
                kind = ("workflow" if "--workflow" in middle else "build" if "--build" in middle
                        else "test" if tool == "ctest" else "configure")
                names = [preset]
                m = re.fullmatch(r"\$\{\{\s*matrix\.([\w-]+)\s*\}\}", preset)
                if m:
                    names = _matrix_values(job, m.group(1))
                for p in names:
                    if presets is None:
                        problems.append(f"{sw}: uses preset {p!r} but there is no CMakePresets.json")
                    elif p not in presets[kind]:
                        problems.append(f"{sw}: no {kind} preset {p!r} in CMakePresets.json")
            for script in SCRIPT_USE.findall(run):
                if not (repo / script).exists():
                    problems.append(f"{sw}: runs {script}, which does not exist")
    # needs: no cycles
    state = {}

    def visit(job, chain):
        if state.get(job) == "done":
            return
        if state.get(job) == "visiting":
            problems.append("jobs: a cycle in needs: " + " -> ".join(chain + [job]))
            return
        state[job] = "visiting"
        needs = (jobs[job].get("needs") or []) if isinstance(jobs[job], dict) else []
        for need in [needs] if isinstance(needs, str) else needs:
            if need in jobs:
                visit(need, chain + [job])
        state[job] = "done"

    for job in jobs:
        visit(job, [])
    return problems


def lint(path):
    path = Path(path)
    text = path.read_text()
    repo = path.resolve().parent.parent.parent  # .github/workflows/x.yml -> the repository
    try:
        fallback = parse_subset(text, path.name)
        fallback_error = None
    except YamlError as e:
        fallback, fallback_error = None, str(e)
    try:
        import yaml  # PyYAML, when installed
    except ImportError:
        yaml = None
    if yaml is not None:
        try:
            wf = yaml.safe_load(text)
        except yaml.YAMLError as e:
            return [f"not valid YAML: {e}"]
        if fallback_error:
            return [f"valid YAML, but outside the subset the fallback parser reads: {fallback_error}"]
        if fallback != wf:
            return ["the fallback parser reads the file differently from PyYAML: keep to the subset "
                    "(block mappings and sequences, | blocks, quoted or plain scalars) or fix it"]
        parser = "PyYAML"
    else:
        if fallback_error:
            return [f"not valid YAML (or outside the subset read without PyYAML): {fallback_error}"]
        wf, parser = fallback, "the fallback parser (no PyYAML)"
    problems = check(wf, repo)
    if not problems:
        print(f"{path.name}: OK, {len(wf['jobs'])} jobs ({', '.join(wf['jobs'])}), read with {parser}")
    return problems


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    failed = False
    for name in argv[1:]:
        for problem in lint(name):
            print(f"{name}: {problem}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
