#!/usr/bin/env python3
"""Prints the compiler flags that PlatformIO passes for one environment of a platformio.ini.

    firmware_build_flags.py firmware/platformio.ini esp32dev

One flag per line, ready for `mapfile`. The glue compile check (scripts/firmware-glue-check.sh)
feeds them to ../shared/esp32-sdk/check-glue, so the check compiles with the defines the board is
built with and there is no second, hand-written copy of them.

It reads the file the way PlatformIO 6 does (platformio/project/config.py):
- `configparser.ConfigParser(inline_comment_prefixes=("#", ";"))` with its default interpolation,
  so a literal percent sign is written `%%`;
- `[platformio] extra_configs` globbed relative to the project folder (site.ini when present);
- `[env:NAME]` falls back to `[env]` and to `extends`; the first section holding the option wins;
- `${section.option}` and `${sysenv.NAME}` expanded recursively; an unknown one is an error here
  (PlatformIO would fail the build on it as well);
- multi-value options split on new lines (or ", " on a single line), `;` comments dropped;
and splits each build_flags line like SCons' ParseFlags (shlex), normalising `-D NAME=VALUE` to
`-DNAME=VALUE`: the compiler then sees the same macro as under PlatformIO, whose shell quoting
only re-escapes the value's quotes. `build_unflags` removes matching flags.
"""
import configparser
import glob
import os
import re
import shlex
import sys

VARTPL_RE = re.compile(r"\$\{([^.}()]+)\.([^}]+)\}")
INLINE_COMMENT_RE = re.compile(r"\s+;.*$")


class ConfigError(Exception):
    pass


class ProjectConfig:
    def __init__(self, path, read_extra=True):
        self.path = os.path.abspath(path)
        self.project_dir = os.path.dirname(self.path)
        self.parser = configparser.ConfigParser(inline_comment_prefixes=("#", ";"))
        self.files = []
        self._read(self.path, read_extra)

    def _read(self, path, read_extra):
        if path in self.files:
            return
        self.files.append(path)
        try:
            self.parser.read(path, "utf-8")
        except configparser.Error as e:
            raise ConfigError(f"{path}: {e}") from e
        if not read_extra:
            return
        for pattern in self.get_multi("platformio", "extra_configs"):
            for item in sorted(glob.glob(os.path.join(self.project_dir, os.path.expanduser(pattern)), recursive=True)):
                self._read(item, True)

    def walk_sections(self, section):
        queue = ["env", section] if section.startswith("env:") else [section]
        while queue:
            current = queue.pop()
            if not self.parser.has_section(current):
                continue
            yield current
            if self.parser.has_option(current, "extends"):
                queue.extend(split_multi(self.parser.get(current, "extends"))[::-1])

    def get(self, section, option, depth=0):
        """The option's value with ${...} expanded, or None when no section in the chain has it."""
        if depth > 32:
            raise ConfigError(f"${{{section}.{option}}}: interpolation nests too deep (a loop?)")
        for current in self.walk_sections(section):
            if self.parser.has_option(current, option):
                try:
                    raw = self.parser.get(current, option)
                except configparser.Error as e:
                    raise ConfigError(f"[{current}] {option}: {e}") from e
                return self._expand(raw, section, option, depth)
        return None

    def _expand(self, value, section, option, depth):
        def one(match):
            sec, opt = match.group(1), match.group(2)
            if sec == "sysenv":
                return os.environ.get(opt, "")
            inner = self.get(sec, opt, depth + 1)
            if inner is None:
                raise ConfigError(f"[{section}] {option}: ${{{sec}.{opt}}} is not set in any config file")
            return inner

        return VARTPL_RE.sub(one, value) if "${" in value else value

    def get_multi(self, section, option):
        value = self.get(section, option)
        return split_multi(value) if value else []


def split_multi(value):
    items = value.split("\n" if "\n" in value else ", ")
    out = []
    for item in items:
        item = item.strip()
        if not item or item.startswith((";", "#")):
            continue
        if ";" in item:
            item = INLINE_COMMENT_RE.sub("", item).strip()
        out.append(item)
    return out


# Options of SCons' ParseFlags that take the next word as their value when written apart.
TAKES_NEXT = {"-D", "-U", "-I", "-include", "-imacros", "-isystem", "-iquote"}
PATH_OPTIONS = {"-I", "-include", "-imacros", "-isystem", "-iquote"}


def parse_flags(items, project_dir):
    """build_flags lines -> compiler arguments (linker-only flags are left out)."""
    out = []
    for item in items:
        try:
            words = shlex.split(item)
        except ValueError as e:
            raise ConfigError(f"build_flags line {item!r}: {e}") from e
        i = 0
        while i < len(words):
            word = words[i]
            i += 1
            if word in TAKES_NEXT:
                if i >= len(words):
                    raise ConfigError(f"build_flags line {item!r}: {word} without a value")
                opt, value = word, words[i]
                i += 1
            elif word[:2] in ("-D", "-U", "-I"):
                opt, value = word[:2], word[2:]
            else:
                if word.startswith(("-Wl,", "-l", "-L")) or not word.startswith("-"):
                    continue  # linker input, not a compiler flag
                out.append(word)
                continue
            value = value.strip()
            if not value:
                raise ConfigError(f"build_flags line {item!r}: {opt} without a value")
            if opt in PATH_OPTIONS and not os.path.isabs(value):
                value = os.path.normpath(os.path.join(project_dir, value))
            out.append(opt + value if opt in ("-D", "-U", "-I") else f"{opt}\n{value}")
    return [part for flag in out for part in flag.split("\n")]


def remove_unflags(flags, unflags):
    names = {u[2:].split("=", 1)[0] for u in unflags if u.startswith("-D")}
    kept = []
    for flag in flags:
        if flag in unflags or (flag.startswith("-D") and flag[2:].split("=", 1)[0] in names):
            continue
        kept.append(flag)
    return kept


def build_flags(ini_path, env, read_extra=True):
    config = ProjectConfig(ini_path, read_extra)
    section = "env:" + env
    if not config.parser.has_section(section):
        raise ConfigError(f"{ini_path}: no [{section}] section")
    flags = parse_flags(config.get_multi(section, "build_flags"), config.project_dir)
    unflags = parse_flags(config.get_multi(section, "build_unflags"), config.project_dir)
    return remove_unflags(flags, unflags), config.files


def main(argv):
    if len(argv) != 3:
        print("usage: firmware_build_flags.py PLATFORMIO_INI ENV", file=sys.stderr)
        return 2
    try:
        flags, files = build_flags(argv[1], argv[2])
    except ConfigError as e:
        print(f"firmware_build_flags: {e}", file=sys.stderr)
        return 1
    print("firmware_build_flags: read " + ", ".join(os.path.relpath(f) for f in files), file=sys.stderr)
    for flag in flags:
        print(flag)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
