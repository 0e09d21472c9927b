"""The name of an external server in every report (the terminal's column,
report.json, report.html, the JUnit suite and classname) when `--name` does
not give one: the program the command runs, not what launches it.

    ./ci/servers/nginx {port}                      -> nginx
    env LD_BIND_NOW=1 taskset -c 0 ./srv --port 1  -> srv
    python3 -m http.server {port}                  -> http.server
    node app.js {port}                             -> app.js
    sh -c 'exec redis-server --port {port}'        -> redis-server

Words skipped: environment assignments (NAME=value), launchers that run
another command (env, nice, taskset, timeout...) with their options, and
interpreters, whose script (or `-m` module) names the server instead. A
command this cannot read is named by its first word; --name overrides.
"""
import os
import re
import shlex

# launcher -> (options that take a separate value, positional words before the command)
LAUNCHERS = {
    "env": ({"-u", "--unset", "-C", "--chdir", "-S", "--split-string"}, 0),
    "exec": ({"-a"}, 0),
    "nice": ({"-n", "--adjustment"}, 0),
    "ionice": ({"-c", "--class", "-n", "--classdata", "-p", "-P", "-u"}, 0),
    "nohup": (set(), 0),
    "setsid": (set(), 0),
    "stdbuf": ({"-i", "-o", "-e"}, 0),
    "taskset": (set(), 1),
    "timeout": ({"-s", "--signal", "-k", "--kill-after"}, 1),
    "chrt": (set(), 1),
    "sudo": ({"-u", "--user", "-g", "--group", "-C", "-D", "-h", "-p", "-r", "-t", "-U"}, 0),
    "doas": ({"-u", "-C"}, 0),
    "prlimit": ({"-p", "--pid"}, 0),
    "numactl": ({"-C", "-N", "-m", "-p", "-i", "--physcpubind", "--cpunodebind", "--membind", "--preferred",
                 "--interleave"}, 0),
    "unbuffer": (set(), 0),
    "setpriv": (set(), 0),
    "xvfb-run": ({"-n", "-s", "-f", "-e", "-p"}, 0),
}
INTERPRETERS = {"python", "python2", "python3", "pypy", "pypy3", "node", "nodejs", "perl", "ruby", "php", "lua",
                "java", "sh", "bash", "dash", "zsh", "ksh", "busybox", "tclsh", "Rscript", "deno", "bun"}
SHELLS = {"sh", "bash", "dash", "zsh", "ksh"}
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
VERSIONED = re.compile(r"^(python|pypy|perl|ruby|php|lua)[0-9.]*$")  # python3.11, perl5.36


def _program(word):
    base = os.path.basename(word)
    return VERSIONED.sub(r"\1", base) if VERSIONED.match(base) else base


def server_name(command: str, depth: int = 0) -> str:
    """The name a report gives the server `command` runs."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    if not words:
        return "server"
    i, n = 0, len(words)
    for _ in range(n + 1):  # every step consumes a word: bounded
        while i < n and ASSIGNMENT.match(words[i]):
            i += 1
        if i >= n:
            break
        prog = _program(words[i])
        if prog in LAUNCHERS:
            takes, positional = LAUNCHERS[prog]
            i += 1
            while i < n and words[i].startswith("-") and words[i] != "--":
                i += 2 if words[i] in takes else 1
            i += 1 if i < n and words[i] == "--" else 0
            i += positional
            continue
        if prog in INTERPRETERS:
            return _interpreted(prog, words[i + 1:], depth) or os.path.basename(words[i])
        return os.path.basename(words[i]) or "server"
    return os.path.basename(words[0]) or "server"


def _interpreted(prog, args, depth):
    """The script, module or command an interpreter runs, or None."""
    k = 0
    while k < len(args):
        word = args[k]
        if word == "-m" and k + 1 < len(args):           # python3 -m http.server
            return args[k + 1]
        if word == "-jar" and k + 1 < len(args):         # java -jar server.jar
            return os.path.basename(args[k + 1])
        if word == "-c" and prog in SHELLS and k + 1 < len(args) and depth < 3:  # sh -c 'exec srv ...'
            return server_name(args[k + 1], depth + 1)
        if word in ("-c", "-e", "--eval"):               # code on the command line: no script to name it
            return None
        if word.startswith("-"):
            k += 1
            continue
        return os.path.basename(word)
    return None
