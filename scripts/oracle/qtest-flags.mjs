#!/usr/bin/env node
/**
 * How QEMU's own build compiles and links one of its qtests, turned into a `qtest-cc` wrapper.
 *
 *   node qtest-flags.mjs extract BUILD_DIR SRC_DIR PROBE META.json   # prints the archives to build
 *   node qtest-flags.mjs write-cc META.json PREFIX "INFO" > PREFIX/bin/qtest-cc
 *
 * `extract` reads the probe's compile command from BUILD_DIR/compile_commands.json and its link
 * rule from BUILD_DIR/build.ninja; include directories are recorded relative to the source or the
 * build tree (the install copies both trees' headers under PREFIX/include/{src,build}). Archives
 * whose objects the rule links one by one are linked whole (--whole-archive), as QEMU does.
 * `write-cc` emits a bash script that finds PREFIX from its own location (the prefix can move).
 * Used by scripts/oracle/build.sh (`npm run oracle`).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, isAbsolute, relative, resolve } from 'node:path';

/** POSIX-shell word splitting for the quoting meson and ninja emit ('…', "…", backslash). */
function shellWords(text) {
  const words = [];
  let cur = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\n') {
      if (cur !== null) words.push(cur);
      cur = null;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated ' in: ${text}`);
      cur = (cur ?? '') + text.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      cur = cur ?? '';
      for (i++; i < text.length && text[i] !== '"'; i++) {
        if (text[i] === '\\' && '"\\$`'.includes(text[i + 1])) i++;
        cur += text[i];
      }
      if (i >= text.length) throw new Error(`unterminated " in: ${text}`);
    } else if (c === '\\') {
      cur = (cur ?? '') + (text[++i] ?? '');
    } else {
      cur = (cur ?? '') + c;
    }
  }
  if (cur !== null) words.push(cur);
  return words;
}

/** ninja's own escapes: $$ → $, "$ " → space, $: → : */
const unNinja = (s) => s.replace(/\$([$ :])/g, '$1');

function extract(buildDir, srcDir, probe, metaPath) {
  const b = resolve(buildDir);
  const s = resolve(srcDir);
  const place = (p) => {
    const abs = resolve(b, p);
    for (const [base, root] of [
      ['build', b],
      ['src', s],
    ]) {
      const rel = relative(root, abs);
      if (rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))) return { base, path: rel || '.' };
    }
    return { base: 'abs', path: abs };
  };

  const name = basename(probe);
  const entries = JSON.parse(readFileSync(resolve(b, 'compile_commands.json'), 'utf8')).filter((e) =>
    e.file.endsWith(`tests/qtest/${name}.c`),
  );
  if (entries.length !== 1) throw new Error(`expected one compile command for ${name}, found ${entries.length}`);
  const [compiler, ...args] = entries[0].arguments ?? shellWords(entries[0].command);
  const cflags = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '-o' || a === '-MQ' || a === '-MF') {
      i++;
      continue;
    }
    if (a === '-c' || a === '-MD' || a.endsWith('.c') || a === '-fdiagnostics-color=auto') continue;
    const inc = /^(-I|-iquote|-isystem)(.*)$/.exec(a);
    if (inc) {
      const dir = inc[2] || args[++i];
      const where = place(dir);
      if (where.base === 'build' && where.path.endsWith('.p')) continue; // the probe's own object dir
      cflags.push({ opt: inc[1], ...where });
    } else {
      cflags.push({ flag: a });
    }
  }

  const ninja = readFileSync(resolve(b, 'build.ninja'), 'utf8');
  const head = `build ${probe}: c_LINKER `;
  const at = ninja.indexOf(head);
  if (at < 0) throw new Error(`no link rule for ${probe} in build.ninja`);
  const [ruleLine, argsLine] = ninja.slice(at + head.length).split('\n', 2);
  if (!argsLine.startsWith(' LINK_ARGS = ')) throw new Error(`no LINK_ARGS after the link rule of ${probe}`);
  const inputs = ruleLine.split(' | ')[0].split(' || ')[0].split(' ').filter(Boolean).map(unNinja);
  const whole = [];
  for (const o of inputs) {
    const m = /^(.*\.a)\.p\//.exec(o);
    if (m && !whole.includes(m[1])) whole.push(m[1]);
  }
  const archives = [...whole];
  const link = [];
  for (const a of shellWords(unNinja(argsLine.slice(' LINK_ARGS = '.length)))) {
    if (a.endsWith('.a') && !isAbsolute(a)) {
      if (!archives.includes(a)) archives.push(a);
      link.push({ lib: basename(a) });
    } else {
      link.push({ flag: a });
    }
  }
  const meta = { probe, compiler, cflags, whole: whole.map((a) => basename(a)), archives, link };
  writeFileSync(metaPath, JSON.stringify(meta, null, 2) + '\n');
  process.stdout.write(archives.join('\n') + '\n');
}

/** Quote for bash only where needed, so the generated script stays readable. */
const q = (w) => (/^[A-Za-z0-9_./,=+:@%-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`);

function writeCc(metaPath, prefix, info) {
  const meta = JSON.parse(readFileSync(metaPath, 'utf8'));
  const cflags = [];
  for (const f of meta.cflags) {
    if (f.flag !== undefined) cflags.push(q(f.flag));
    else if (f.base === 'abs') cflags.push(`${f.opt} ${q(f.path)}`);
    else {
      const dir = f.path === '.' ? f.base : `${f.base}/${f.path}`;
      // include dirs that hold no header were not installed: leave them out
      if (!existsSync(resolve(prefix, 'include', dir))) continue;
      cflags.push(`${f.opt} "$P/include/${dir}"`);
    }
  }
  const libs = ['-Wl,--whole-archive', ...meta.whole.map((a) => `"$P/lib/${a}"`), '-Wl,--no-whole-archive'];
  for (const l of meta.link) libs.push(l.lib !== undefined ? `"$P/lib/${l.lib}"` : q(l.flag));
  const list = (xs) => xs.map((x) => `  ${x}`).join('\n');
  process.stdout.write(`#!/usr/bin/env bash
# qtest-cc: build a C qtest the way QEMU builds its own tests/qtest/*.c, against the libqtest/libqos
# of this prefix.
#   qtest-cc -o OUT test.c [more.c ...] [your cc flags]
#   qtest-cc --cflags | --libs | --version | --help
# Your arguments come after QEMU's flags (so -O0 -g -I -D work); -c, -S, -E, -M, -MM and
# -fsyntax-only skip the link flags. QTEST_CC=... picks another compiler.
# Written by qtestd's scripts/oracle/build.sh; finds its prefix from its own path.
set -euo pipefail
P=$(cd "$(dirname "$(readlink -f "\${BASH_SOURCE[0]}")")/.." && pwd)
INFO=${q(info)}
CC_BIN=\${QTEST_CC:-${q(meta.compiler)}}
CFLAGS=(
${list(cflags)}
)
LIBS=(
${list(libs)}
)
case "\${1-}" in
  --cflags) printf '%q ' "\${CFLAGS[@]}"; echo; exit 0 ;;
  --libs) printf '%q ' "\${LIBS[@]}"; echo; exit 0 ;;
  --version) echo "qtest-cc ($INFO)"; exit 0 ;;
  -h | --help | '') sed -n '2,7p' "\${BASH_SOURCE[0]}" | cut -c3-; [ -n "\${1-}" ]; exit ;;
esac
for a in "$@"; do
  case $a in -c | -S | -E | -M | -MM | -fsyntax-only) exec "$CC_BIN" "\${CFLAGS[@]}" "$@" ;; esac
done
exec "$CC_BIN" "\${CFLAGS[@]}" "$@" "\${LIBS[@]}"
`);
}

const [cmd, ...rest] = process.argv.slice(2);
if (cmd === 'extract' && rest.length === 4) extract(...rest);
else if (cmd === 'write-cc' && rest.length === 3) writeCc(...rest);
else {
  process.stderr.write('usage: qtest-flags.mjs extract BUILD SRC PROBE META.json | write-cc META.json PREFIX INFO\n');
  process.exit(2);
}
