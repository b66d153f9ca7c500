"""Runs the commands of the pages a newcomer follows, as they are written there.

Pages: README.md, docs/getting-started.md, docs/side-by-side.md, docs/tutorial.md and HACKING.md.
Every ```sh or ```console block of them has a marker on the line before it:

    <!-- doc-run: NAME -->          test_NAME below runs the block's commands
    <!-- doc-run: skip: REASON -->  not run here, and the page says why (REASON says it again)

test_every_command_block_is_run_or_skipped fails on a block without either, on a NAME that no test
runs and on a test whose block is gone. test_quoted_code_is_the_file checks that each ```cpp block
marked `<!-- doc-test: skip: quoted from FILE, region NAME -->` is that region of FILE.

How a block runs. The commands run from a scratch folder that looks like the source tree: a link
to each of its top-level entries, and build/dev a link to this build (COSOCK_BUILD_DIR), so that
`build/dev/examples/...` and `examples/python/...` resolve, and a file a command writes
(lines.txt) lands there. In a ```sh block each line is a command (its `# comment` dropped, `\\`
continuations joined); `cd DIR` changes the folder of the commands after it. A command ending in
`&`, or whose comment starts "terminal 1", is a server: it is started, and the test waits until it
prints `listening on HOST:PORT`; `PORT` in the commands after it is that port. Any other command
runs to its end. A ```console block is `$ command` lines, each followed by the output expected
(stdout, then stderr); `$ echo $?` shows the status of the command before. Each test gives the
commands their stdin and checks what they print. Every wait has a deadline, and every process is
killed when its test ends. Standard library only.

ctest runs this module as docs.commands, in the dev preset (its build is the one the pages name).
By hand, from this folder: COSOCK_BUILD_DIR=../../build/dev python3 -m unittest -v test_doc_commands
"""
import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("COSOCK_BUILD_DIR", ROOT / "build/dev")).resolve()
PAGES = ["README.md", "docs/getting-started.md", "docs/side-by-side.md", "docs/tutorial.md", "HACKING.md"]
FENCE = re.compile(r"^\s*```(\w*)\s*$")
RUN = re.compile(r"^\s*<!--\s*doc-run:\s*(.*?)\s*-->\s*$")
QUOTE = re.compile(r"^\s*<!--\s*doc-test:\s*skip:\s*quoted from (\S+), region (\w+)\s*-->\s*$")
LISTENING = re.compile(r"listening on \[?[^\]\s]*?\]?:(\d+)")
DEADLINE = 60  # seconds for any one command


class Block:
    def __init__(self, page, line, lang, marker, lines):
        self.page, self.line, self.lang, self.marker, self.lines = page, line, lang, marker, lines

    def __repr__(self):
        return f"{self.page}:{self.line}"


def blocks(page):
    """Every fenced block of a page, with the marker line before it (or None)."""
    out, fence = [], None
    lines = (ROOT / page).read_text(encoding="utf-8").splitlines()
    for n, text in enumerate(lines):
        m = FENCE.match(text)
        if not m:
            continue
        if fence is None:
            fence = (n, m.group(1), lines[n - 1] if n else "")
        else:
            start, lang, before = fence
            out.append(Block(page, start + 1, lang, before, lines[start + 1:n]))
            fence = None
    return out


def command_blocks():
    return [b for page in PAGES if (ROOT / page).exists() for b in blocks(page)
            if b.lang in ("sh", "console", "bash", "shell")]


def named_all(name):
    """The blocks marked `<!-- doc-run: NAME -->`, in page order (a walk-through may take several)."""
    return [b for b in command_blocks() if (m := RUN.match(b.marker)) and m.group(1) == name]


def named(name):
    """The one block marked `<!-- doc-run: NAME -->`."""
    found = named_all(name)
    assert len(found) == 1, f"{len(found)} blocks are marked doc-run: {name}"
    return found[0]


def split_comment(line):
    """`cmd  # note` -> ("cmd", "note"): a # after a blank, outside quotes."""
    quote = None
    for i, c in enumerate(line):
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip(), line[i + 1:].strip()
    return line.rstrip(), ""


def sh_commands(block):
    """The commands of a ```sh block: (command, comment), continuations joined."""
    out, pending = [], ""
    for text in block.lines:
        if text.rstrip().endswith("\\"):
            pending += text.rstrip()[:-1] + " "
            continue
        command, comment = split_comment(pending + text)
        pending = ""
        if command.strip():
            out.append((" ".join(command.split()), comment))
    return out


def console_steps(block):
    """The `$ command` lines of a ```console block, each with the output lines after it."""
    steps = []
    for text in block.lines:
        if text.startswith("$ "):
            steps.append((text[2:].strip(), []))
        elif steps:
            steps[-1][1].append(text)
    return steps


def ports_as_port(text):
    """Ports and other numbers after a colon vary from run to run: `127.0.0.1:41537` -> `...:PORT`."""
    return re.sub(r"(?<=:)\d+\b", "PORT", text)


class Process:
    """A command started in the background, in its own process group; stdout read by a thread."""

    def __init__(self, command, cwd, stdin):
        self.command = command
        self.proc = subprocess.Popen(["bash", "-c", command], cwd=cwd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        self.lines = queue.Queue()
        self.out, self.err = [], ""
        self.readers = [threading.Thread(target=self._read, daemon=True),
                        threading.Thread(target=self._read_err, daemon=True)]
        for reader in self.readers:
            reader.start()
        self.proc.stdin.write(stdin)
        self.proc.stdin.close()

    def _read(self):
        for line in self.proc.stdout:
            self.out.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def _read_err(self):
        self.err = self.proc.stderr.read()

    def wait_listening(self, timeout=DEADLINE):
        while True:
            line = self.lines.get(timeout=timeout)
            if line is None:
                raise AssertionError(f"{self.command!r} ended without `listening on`: {self.err}")
            if m := LISTENING.search(line):
                return m.group(1)

    def wait(self, timeout=DEADLINE):
        """The exit status, once the process has ended and all its output is read."""
        status = self.proc.wait(timeout=timeout)
        for reader in self.readers:
            reader.join(timeout)
        return status

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


class Shell:
    """Runs a block's commands from a scratch copy of the tree's layout (see the module doc)."""

    def __init__(self, test):
        self.dir = Path(tempfile.mkdtemp(prefix="cosock-doc-"))
        test.addCleanup(shutil.rmtree, self.dir, True)
        for entry in ROOT.iterdir():
            if entry.name not in ("build", ".git"):
                (self.dir / entry.name).symlink_to(entry)
        (self.dir / "build").mkdir()
        (self.dir / "build/dev").symlink_to(BUILD)
        self.cwd = self.dir
        self.port = None
        self.servers = []
        test.addCleanup(self.kill_all)

    def kill_all(self):
        for server in self.servers:
            server.kill()

    def expand(self, command):
        return re.sub(r"\bPORT\b", self.port or "PORT", command)

    def start(self, command, stdin=""):
        """A server: started, and waited for until it prints its port."""
        command = self.expand(command.rstrip(" &"))
        server = Process(command, self.cwd, stdin)
        self.servers.append(server)
        self.port = server.wait_listening()
        return server

    def run(self, command, stdin=""):
        """Any other command, to its end: (status, stdout, stderr)."""
        if m := re.fullmatch(r"cd (\S+)", command):
            self.cwd = self.cwd / m.group(1)
            return 0, "", ""
        done = subprocess.run(["bash", "-c", self.expand(command)], cwd=self.cwd, input=stdin, text=True,
                              capture_output=True, timeout=DEADLINE)
        return done.returncode, done.stdout, done.stderr

    def block(self, block, stdin=None):
        """Runs every command of a ```sh block; stdin: {index of the command: text}. Returns, per
        command, a Process (a server) or (status, stdout, stderr)."""
        stdin = stdin or {}
        results = []
        for i, (command, comment) in enumerate(sh_commands(block)):
            if command.endswith("&") or comment.startswith("terminal 1"):
                results.append(self.start(command, stdin.get(i, "")))
            else:
                results.append(self.run(command, stdin.get(i, "")))
        return results


def built(*names):
    """Skips the test unless the dev build has these programs (relative to the build folder)."""
    missing = [n for n in names if not (BUILD / n).exists()]
    return unittest.skipIf(missing, f"not built in {BUILD}: {', '.join(missing)}")


class Inventory(unittest.TestCase):

    def test_every_command_block_is_run_or_skipped(self):
        tests = {name[len("test_"):] for cls in (Pages,) for name in dir(cls) if name.startswith("test_")}
        marked = set()
        for b in command_blocks():
            m = RUN.match(b.marker)
            self.assertTrue(m, f"{b}: a ```{b.lang} block needs <!-- doc-run: NAME --> (a test of "
                               f"tests/docs/test_doc_commands.py runs it) or <!-- doc-run: skip: REASON -->")
            what = m.group(1)
            if what.startswith("skip:"):
                self.assertTrue(what[len("skip:"):].strip(), f"{b}: doc-run: skip needs a reason")
                continue
            self.assertIn(what, tests, f"{b}: no test_{what} in tests/docs/test_doc_commands.py runs it")
            marked.add(what)
        self.assertEqual(tests - marked, set(), "tests whose block is gone from the pages")

    def test_quoted_code_is_the_file(self):
        quoted = 0
        for page in PAGES:
            if not (ROOT / page).exists():
                continue
            for b in blocks(page):
                m = QUOTE.match(b.marker)
                if not m:
                    continue
                quoted += 1
                source = (ROOT / m.group(1)).read_text(encoding="utf-8")
                region = re.search(rf"^[ \t]*// tag::{m.group(2)}\[\]\n(.*?)^[ \t]*// end::{m.group(2)}\[\]",
                                   source, re.S | re.M)
                self.assertTrue(region, f"{b}: no region {m.group(2)} in {m.group(1)}")
                lines = region.group(1).rstrip("\n").split("\n")
                indent = min((len(l) - len(l.lstrip()) for l in lines if l.strip()), default=0)
                self.assertEqual([l[indent:] for l in lines], b.lines,
                                 f"{b} differs from {m.group(1)}, region {m.group(2)}")
        if (ROOT / "docs/tutorial.md").exists():
            self.assertGreater(quoted, 0)


class Pages(unittest.TestCase):
    """One test per marked block: test_NAME runs the block marked doc-run: NAME."""

    def console(self, name, check_status=True):
        """Runs a ```console block: each command's stdout and stderr must be the lines after it."""
        shell = Shell(self)
        status = 0
        for command, expected in console_steps(named(name)):
            if command == "echo $?":
                got = f"{status}\n"
            else:
                status, out, err = shell.run(command)
                got = out + err
            self.assertEqual(ports_as_port(got).rstrip("\n").split("\n"),
                             [ports_as_port(l) for l in expected], f"the output of `{command}`")

    # --- getting-started.md -------------------------------------------------------------------

    @built("examples/tcp_hello_server", "examples/tcp_hello_client")
    def test_getting_started_hello(self):
        shell = Shell(self)
        server, client = shell.block(named("getting_started_hello"))
        self.assertEqual(client, (0, "hi\n", ""))
        self.assertEqual(server.wait(), 0)
        self.assertIn("hello!\n", server.out)

    @built("lib/libcosock.a")
    def test_getting_started_echo(self):
        # The reader saves the page's two programs, compiles them with its g++ lines (COSOCK: the
        # cosock folder), starts the server, runs the client, stops the server with Ctrl-C, and
        # runs the client again.
        shell = Shell(self)
        page = (ROOT / "docs/getting-started.md").read_text(encoding="utf-8")
        for name in ("echo_server.cpp", "echo_client.cpp"):
            code = re.search(rf"```cpp\n(// {re.escape(name)}:.*?)```", page, re.S).group(1)
            (shell.dir / name).write_text(code, encoding="utf-8")
        compile_block, server_block, client_block, refused_block = named_all("getting_started_echo")
        script = "\n".join(compile_block.lines).replace("COSOCK=path/to/cosock", f"COSOCK={shell.dir}")
        status, out, err = shell.run(script)
        self.assertEqual(status, 0, err)

        ((command, expected),) = console_steps(server_block)
        server = shell.start(command)
        self.assertEqual(ports_as_port("".join(server.out)), ports_as_port(expected[0]) + "\n")
        ((command, expected),) = console_steps(client_block)
        status, out, err = shell.run(command.replace("37927", shell.port))
        self.assertEqual((status, out.rstrip("\n").split("\n"), err), (0, expected, ""))
        os.killpg(server.proc.pid, signal.SIGINT)  # Ctrl-C
        self.assertEqual(server.wait(), 130, server.err)
        self.assertRegex("".join(server.out), r"127\.0\.0\.1:\d+ connected\n127\.0\.0\.1:\d+ left\n")

        ((command, expected),) = console_steps(refused_block)
        status, out, err = shell.run(command.replace("37927", shell.port))
        self.assertEqual((status, out, ports_as_port(err)), (1, "", ports_as_port(expected[0]) + "\n"))

    # --- side-by-side.md ----------------------------------------------------------------------

    @built("examples/tcp_hello_server", "examples/tcp_hello_client")
    def test_tcp_hello(self):
        shell = Shell(self)
        results = shell.block(named("tcp_hello"))
        servers, clients = results[0::2], results[1::2]
        for client in clients:
            self.assertEqual(client, (0, "hi\n", ""))
        for server in servers:
            self.assertEqual(server.wait(), 0, server.err)
            self.assertIn("hello!\n", server.out)

    @built("examples/tcp_chat_server", "examples/tcp_chat_client")
    def test_tcp_chat(self):
        shell = Shell(self)
        # Each server's operator answers the first message; each client says hi, then bye.
        results = shell.block(named("tcp_chat"), stdin={0: "hello\n", 1: "hi\nbye\n", 2: "hello\n",
                                                        3: "hi\nbye\n", 4: "hello\n"})
        for server, client in zip(results[0::2], results[1::2]):
            status, out, err = client
            self.assertEqual((status, err), (0, ""))
            self.assertIn("hello\n", out)
            self.assertEqual(server.wait(), 0, server.err)
            self.assertIn("hi\n", "".join(server.out))
            self.assertIn("聊天结束\n", "".join(server.out))

    @built("examples/udp_hello_server", "examples/udp_hello_client")
    def test_udp_hello(self):
        shell = Shell(self)
        server1, client1, server2, client2, silent = shell.block(named("udp_hello"))
        for server, client in ((server1, client1), (server2, client2)):
            status, out, err = client
            self.assertEqual((status, ports_as_port(out), err), (0, "hi from 127.0.0.1:PORT\n", ""))
            self.assertEqual(server.wait(), 0, server.err)
            self.assertRegex("".join(server.out), r"hello from 127\.0\.0\.1:\d+\n")
        self.assertEqual(silent, (1, "", "udp_hello_client: no answer from 127.0.0.1:9 within 0.5 s\n"))

    @built("examples/udp_qq_server", "examples/udp_qq_client")
    def test_udp_qq(self):
        shell = Shell(self)
        # The operator answers each client in turn; each client sends one line, then its stdin ends.
        server, one, two, three = shell.block(named("udp_qq"), stdin={
            0: "hi One\nhi Two\nhi Three\n", 1: "hello\n", 2: "hello\n", 3: "hello\n"})
        for (status, out, err), name in ((one, "One"), (two, "Two"), (three, "Three")):
            self.assertEqual((status, err), (0, ""))
            self.assertIn(f"hi {name}", out)
        self.assertEqual(server.wait(), 0, server.err)
        for name in ("One", "Two", "Three"):
            self.assertIn(f"来自{name}的消息: hello", "".join(server.out))

    @built("examples/tcp_timeout_server", "examples/tcp_timeout_client")
    def test_tcp_timeout(self):
        shell = Shell(self)
        server, client, lonely = shell.block(named("tcp_timeout"), stdin={0: "fine\n", 1: "hi\nbye\n"})
        status, out, err = client
        self.assertEqual((status, err), (0, ""))
        self.assertIn("fine\n", out)
        self.assertEqual(server.wait(), 0, server.err)
        status, out, err = lonely
        self.assertEqual((status, ports_as_port(err)),
                         (1, "tcp_timeout_server: accept on 127.0.0.1:PORT: timed out after 1 s\n"))

    @built("examples/socket_families")
    def test_socket_families(self):
        shell = Shell(self)
        ((command, expected),) = console_steps(named("socket_families"))
        status, out, err = shell.run(command)
        self.assertEqual(status, 0, err)
        got = out.rstrip("\n").split("\n")
        self.assertEqual(len(got), len(expected))
        for line, want in zip(got, expected):
            if "icmp_socket" in want and "skipped: needs CAP_NET_RAW" in line:
                continue  # the page says so: unprivileged, the raw row is skipped
            # The first three columns: family, type and the cosock types; the rest varies.
            self.assertEqual(re.split(r"\s{2,}", line)[:3], re.split(r"\s{2,}", want)[:3])

    # --- tutorial.md --------------------------------------------------------------------------

    @built("examples/tutorial/hello")
    def test_tutorial_hello(self):
        self.console("tutorial_hello")

    @built("examples/tutorial/errors")
    def test_tutorial_errors(self):
        self.console("tutorial_errors")

    @built("examples/tutorial/scopes")
    def test_tutorial_scopes(self):
        self.console("tutorial_scopes")

    @built("examples/tutorial/framing")
    def test_tutorial_framing(self):
        self.console("tutorial_framing")

    # --- HACKING.md ---------------------------------------------------------------------------

    @built("tests/cosock_unit_tests")
    def test_hacking_unit_test_binary(self):
        shell = Shell(self)
        for status, out, err in shell.block(named("hacking_unit_test_binary")):
            self.assertEqual(status, 0, out + err)

    @built("examples/tcp_hello_server")
    def test_hacking_integration_by_hand(self):
        shell = Shell(self)
        for status, out, err in shell.block(named("hacking_integration_by_hand"))[1:]:
            self.assertEqual(status, 0, err)
            self.assertRegex(err, r"\nOK")

    @unittest.skipIf(shutil.which("clang-format-14") is None, "no clang-format-14 (scripts/setup.sh installs it)")
    def test_hacking_format(self):
        shell = Shell(self)
        for status, out, err in shell.block(named("hacking_format")):
            self.assertEqual(status, 0, out + err)


if __name__ == "__main__":
    unittest.main()
