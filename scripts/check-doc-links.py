#!/usr/bin/env python3
"""Every relative link and every repository path named in the Markdown must exist (`make lint`).

Reads every Markdown file git knows of (tracked, or new and not ignored) and checks:

- relative links, `[text](path)`, `[text](path#anchor)`, `[text](#anchor)`, images and
  reference definitions (`[label]: path`): the path must exist (relative to the file, or to
  the repository root when it starts with `/`), and an anchor into a Markdown file must be
  one of its headings' slugs as GitHub makes them (lowercase; punctuation other than `-` and
  `_` dropped; each space a `-`; `-1`, `-2` ... on repeats) or an explicit `id`/`name`;
- repository paths in backticks in prose, such as `src/storage/change.rs` or
  `events/provisioning-create.json` (also as a word of a command in backticks): a word
  containing `/` whose first part is a top-level entry of the repository must exist
  (`path#anchor` is checked like a link, `path::item` and `path:LINE` by their path). A word
  without `/` (`template.yaml`, `lib.rs`) is not taken for a repository path.

Skipped: URLs and other `scheme:` targets (`mailto:`), fenced code blocks (``` or ~~~),
links written inside backticks, globs and placeholders (`docs/**/*.md`, `<stack>`,
`tests/{a,b}.json`, `events/FILE`, `...`), absolute paths (`/etc/ssl/certs`), and paths git
ignores (`target/`, `.local/`, `fuzz/artifacts/`: made by a build, absent from a clone).

Prints each broken one as `file:line: target (reason)` and exits 1 if there is any.
`--self-test` runs the checker on a temporary tree with good and broken links and fails
unless it finds exactly the broken ones. Standard library only.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import unicodedata
from urllib.parse import unquote

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.DOTALL)
# [text](target "title"): text may hold one level of brackets; target may be <...>.
INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]\\]|\\.|\[[^\]]*\])*\]\(\s*(<[^>\n]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)"
    r"(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)"
)
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
HTML_ANCHOR = re.compile(r"<a\s[^>]*?\b(?:id|name)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
PLACEHOLDER_PART = re.compile(r"^[A-Z][A-Z0-9_]+$")  # events/FILE, tables/NAME


class Repository:
    """The files of the tree: from git when the root is a work tree, else from the disk."""

    def __init__(self, root, use_git=True):
        self.root = os.path.realpath(root)
        self.git = self._git_files() if use_git else None
        files = self.git if self.git is not None else self._walk()
        self.markdown = sorted(f for f in files if f.endswith(".md"))
        self.top_level = {f.split("/", 1)[0] for f in files}
        self._slugs = {}

    def _git_files(self):
        try:
            out = subprocess.run(
                ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                cwd=self.root,
                capture_output=True,
                check=True,
            ).stdout
        except (OSError, subprocess.CalledProcessError):
            return None
        names = out.decode("utf-8", "surrogateescape").split("\0")
        # Deleted but not yet committed files are not there.
        return [f for f in names if f and os.path.lexists(os.path.join(self.root, f))]

    def _walk(self):
        found = []
        for directory, dirs, files in os.walk(self.root):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "target")
            for name in files:
                path = os.path.relpath(os.path.join(directory, name), self.root)
                found.append(path.replace(os.sep, "/"))
        return found

    def ignored(self, relative):
        if self.git is None:
            return False
        check = subprocess.run(["git", "check-ignore", "-q", "--", relative], cwd=self.root)
        return check.returncode == 0

    def slugs(self, relative):
        if relative not in self._slugs:
            with open(os.path.join(self.root, relative), encoding="utf-8") as f:
                self._slugs[relative] = heading_slugs(f.read())
        return self._slugs[relative]


def github_slug(text):
    """A heading's anchor as GitHub makes it (github-slugger): lowercase, drop punctuation and
    symbols except `-` and `_`, each space a `-`."""
    text = text.lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LNM")
    return kept.replace(" ", "-")


def heading_text(source):
    """The text GitHub renders for a heading's Markdown: code spans' content, links' text, no
    HTML tags, no emphasis markers."""
    parts = []
    last = 0
    for m in CODE_SPAN.finditer(source):
        parts.append((False, source[last : m.start()]))
        parts.append((True, m.group(2).strip() or m.group(2)))
        last = m.end()
    parts.append((False, source[last:]))
    out = []
    for is_code, part in parts:
        if not is_code:
            part = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", part)
            part = re.sub(r"<[^>]+>", "", part)
            part = re.sub(r"(?<![\w\\])(\*{1,3}|_{1,3})(?=\S)(.+?)(?<=\S)\1(?![\w])", r"\2", part)
            part = part.replace("\\", "")
        out.append(part)
    return "".join(out)


def prose_lines(text):
    """(line number, line, in_fence) for each line; fences are ``` or ~~~ blocks."""
    fence = None
    for number, line in enumerate(text.split("\n"), 1):
        m = FENCE.match(line)
        if fence is None and m:
            fence = m.group(1)
            yield number, line, True
            continue
        if fence is not None:
            closing = m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence)
            if closing and not line.strip()[len(m.group(1)) :].strip():
                fence = None
            yield number, line, True
            continue
        yield number, line, False


def heading_slugs(text):
    slugs = set()
    seen = {}
    previous = None  # the previous prose line, for setext headings
    for _, line, in_fence in prose_lines(text):
        if in_fence:
            previous = None
            continue
        for anchor in HTML_ANCHOR.findall(line):
            slugs.add(anchor)
        title = None
        m = ATX_HEADING.match(line)
        if m:
            title = m.group(2) or ""
        elif (
            previous is not None
            and SETEXT_UNDERLINE.match(line)
            and not previous.lstrip().startswith(("|", "-", "*", "+", ">"))
        ):
            title = previous.strip()
        if title is not None:
            slug = github_slug(heading_text(title))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            slugs.add(slug if count == 0 else f"{slug}-{count}")
            previous = None
            continue
        previous = line if line.strip() and not ATX_HEADING.match(line) else None
    return slugs


def paragraphs(text):
    """Runs of prose lines outside fences: (first line number, joined text)."""
    block, start = [], None
    for number, line, in_fence in prose_lines(text):
        if in_fence or not line.strip():
            if block:
                yield start, "\n".join(block)
            block, start = [], None
            continue
        if start is None:
            start = number
        block.append(line)
    if block:
        yield start, "\n".join(block)


class Checker:
    def __init__(self, repository):
        self.repo = repository
        self.problems = []

    def report(self, relative, line, target, reason):
        self.problems.append(f"{relative}:{line}: {target} ({reason})")

    def check_target(self, relative, line, target, base_dir, shown=None):
        """A path (with an optional #anchor) relative to base_dir, or to the root if it
        starts with /."""
        shown = shown or target
        path, _, anchor = target.partition("#")
        path = unquote(path)
        anchor = unquote(anchor)
        if not path:
            resolved = relative
        else:
            joined = path.lstrip("/") if path.startswith("/") else os.path.join(base_dir, path)
            resolved = os.path.normpath(joined).replace(os.sep, "/")
            if resolved == ".." or resolved.startswith("../"):
                self.report(relative, line, shown, "outside the repository")
                return
            if not os.path.exists(os.path.join(self.repo.root, resolved)):
                if not self.repo.ignored(resolved):
                    self.report(relative, line, shown, "no such file or directory")
                return
        markdown = resolved.endswith(".md") and os.path.isfile(os.path.join(self.repo.root, resolved))
        if anchor and markdown:
            if anchor not in self.repo.slugs(resolved):
                where = "" if not path else f" of {resolved}"
                self.report(relative, line, shown, f"no heading{where} has the anchor #{anchor}")

    def check_link(self, relative, line, target):
        if target.startswith("<") and target.endswith(">"):
            target = target[1:-1].strip()
        if not target or SCHEME.match(target) or target.startswith("//"):
            return
        if any(c in target for c in "<>{}*?") or "..." in target:
            return
        self.check_target(relative, line, target, os.path.dirname(relative))

    def check_code_word(self, relative, line, word):
        word = word.strip("\"'(),;")
        if word.endswith(":") and not word.endswith("::"):
            word = word[:-1]
        if not word or (SCHEME.match(word) and not re.match(r"^[\w.-]+\.\w+:\d", word)):
            return  # a URL, `crate::path`; but `Cargo.toml:12` is a file and a line
        if word.startswith(("/", "~", "$", "-")) or "//" in word or "..." in word:
            return
        if any(c in word for c in "<>{}*?[]$=`|\\"):
            return
        path = word.split("::", 1)[0]
        path = re.sub(r":\d+(?:-\d+)?$", "", path)
        file_part = path.split("#", 1)[0]
        if "/" not in file_part or file_part.split("/", 1)[0] not in self.repo.top_level:
            return  # `lib.rs`, `api/mod.rs`, `org-secrets/encryption-key`: not from the root
        placeholder = any(PLACEHOLDER_PART.match(p) for p in file_part.split("/"))
        if placeholder and not os.path.exists(os.path.join(self.repo.root, file_part)):
            return
        self.check_target(relative, line, path, "", shown=word)

    def check_file(self, relative):
        with open(os.path.join(self.repo.root, relative), encoding="utf-8") as f:
            text = f.read()
        for start, block in paragraphs(text):
            line_starts = [0] + [i + 1 for i, c in enumerate(block) if c == "\n"]

            def line_of(offset):
                n = 0
                while n + 1 < len(line_starts) and line_starts[n + 1] <= offset:
                    n += 1
                return start + n

            # Code spans: their words may be paths; links inside them are not links.
            masked = list(block)
            for m in CODE_SPAN.finditer(block):
                for i in range(m.start(), m.end()):
                    if masked[i] != "\n":
                        masked[i] = " "
                for word in re.finditer(r"\S+", m.group(2)):
                    self.check_code_word(relative, line_of(m.start(2) + word.start()), word.group())
            masked = "".join(masked)
            for m in INLINE_LINK.finditer(masked):
                self.check_link(relative, line_of(m.start()), m.group(1))
            for n, text_line in enumerate(masked.split("\n")):
                m = REFERENCE_DEFINITION.match(text_line)
                if m:
                    self.check_link(relative, start + n, m.group(1))

    def run(self):
        for relative in self.repo.markdown:
            found = len(self.problems)
            self.check_file(relative)
            # In line order within the file (a paragraph's code spans are read before its links).
            self.problems[found:] = sorted(self.problems[found:], key=lambda p: int(p.split(":")[1]))
        return self.problems


def self_test():
    files = {
        "README.md": (
            "# Title\n\n## Try it: `make run` (local)\n\n## Try it: `make run` (local)\n\n"
            "Good: [docs](docs/guide.md), [anchor](docs/guide.md#the-api_v2-and-more), [self](#title),\n"
            "[repeat](#try-it-make-run-local-1), [web](https://example.com/x.md), [mail](mailto:a@b.c),\n"
            "`src/lib.rs`, `src/lib.rs::item`, `docs/**/*.md`, `alias/<stack>-secrets`, `events/FILE`,\n"
            "`cargo test --test api`, `scripts/run.sh --flag`, `/etc/ssl/certs`, `target/lambda/x`,\n"
            "`lib.rs`, [ref][r], `[not a link](missing.md)`, `docs/guide.md#title-two`.\n\n"
            "Broken: [gone](docs/missing.md), [bad anchor](docs/guide.md#nowhere),\n"
            "[bad self](#no-such-heading), `src/missing.rs`, `scripts/gone.sh --flag`,\n"
            "`docs/guide.md#nope`, [up](../outside.md), `src/gone.rs::f`, `cargo run\nsrc/lost.rs`,\n"
            "[fenced heading](#not-a-heading), `events/GONE.json`.\n\n"
            "```bash\n[fenced](fenced-missing.md) `src/fenced-missing.rs`\n# Not a heading\n```\n\n"
            "[r]: docs/guide.md#title-two\n"
        ),
        "docs/guide.md": "# Guide\n\n## The API_v2, and more!\n\nTitle two\n---------\n\n[back](../README.md#title)\n",
        "src/lib.rs": "",
        "scripts/run.sh": "",
        "events/create.json": "",
    }
    expected = [
        "README.md:13: docs/missing.md (no such file or directory)",
        "README.md:13: docs/guide.md#nowhere (no heading of docs/guide.md has the anchor #nowhere)",
        "README.md:14: #no-such-heading (no heading has the anchor #no-such-heading)",
        "README.md:14: src/missing.rs (no such file or directory)",
        "README.md:14: scripts/gone.sh (no such file or directory)",
        "README.md:15: docs/guide.md#nope (no heading of docs/guide.md has the anchor #nope)",
        "README.md:15: ../outside.md (outside the repository)",
        "README.md:15: src/gone.rs::f (no such file or directory)",
        "README.md:16: src/lost.rs (no such file or directory)",
        "README.md:17: #not-a-heading (no heading has the anchor #not-a-heading)",
        "README.md:17: events/GONE.json (no such file or directory)",
    ]
    with tempfile.TemporaryDirectory() as root:
        for name, content in files.items():
            os.makedirs(os.path.dirname(os.path.join(root, name)), exist_ok=True)
            with open(os.path.join(root, name), "w", encoding="utf-8") as f:
                f.write(content)
        problems = Checker(Repository(root, use_git=False)).run()
    if sorted(problems) != sorted(expected):
        print("check-doc-links: self-test FAILED", file=sys.stderr)
        for p in sorted(set(expected) - set(problems)):
            print(f"  missed:     {p}", file=sys.stderr)
        for p in sorted(set(problems) - set(expected)):
            print(f"  unexpected: {p}", file=sys.stderr)
        return 1
    print(f"check-doc-links: self-test ok ({len(expected)} broken links and paths found, no false ones)")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    parser.add_argument("--self-test", action="store_true", help="check the checker on a temporary tree")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    repository = Repository(args.root)
    problems = Checker(repository).run()
    for problem in problems:
        print(problem)
    if problems:
        count = f"{len(problems)} broken link(s) or path(s) in {len(repository.markdown)} Markdown files"
        print(f"check-doc-links: {count}", file=sys.stderr)
        return 1
    print(f"check-doc-links: ok ({len(repository.markdown)} Markdown files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
