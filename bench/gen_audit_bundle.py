#!/usr/bin/env python3
"""gen_audit_bundle.py: the policy bundle of the audit benchmark, for a mesh made by gen_mesh.py.

Usage: gen_audit_bundle.py --mesh MESH_DIR [--policies DIR] [--ungranted-every K] OUT_DIR

The same arguments (and the same mesh) always give byte-identical files.

What it writes into OUT_DIR:
  bundle.yaml             name audit-bench, revision bench-<services>, default deny
  traffic/baseline.lua    a copy of DIR/traffic/baseline.lua without its `declared_routes_only`
                          rule (that rule names namespaces of examples/acme, which a generated mesh
                          does not have); the script fails if the file uses declared_routes_only
                          anywhere but in exactly one removable block, and copies it unchanged
                          (with a note) when it no longer uses it at all
  residency/gdpr.lua      a copy of DIR/residency/gdpr.lua (generic: data classes, jurisdictions)
  rbac/<ns>.lua           policy "rbac.<ns>": what the services of namespace <ns> may call; one
                          allow rule per declared route whose source is in <ns>:
                            allow "route-<name>" { service = "<ns>/<dst>",
                                                   from = { principals = { "<source identity>" } } }
                          with every service the route sends to (destinations, mirror, failover;
                          a list when there are several) and `external = "<host>"` for egress
  .gen_audit_bundle.json  the arguments and counts (also marks the directory as generated)

Routes without a source are not granted (they have no caller; `meshpol audit` skips them too).
Every K-th route that has a source (default K = 100, so ~1%) is left ungranted on purpose, so that
the audit has `route-not-permitted` findings to report. The tests (*_test.lua) of DIR are not
copied: they run against examples/acme.

The mesh is read with a small line-based reader of gen_mesh.py's own output (top-level `key:
value` lines, two-space indented nested lines, documents separated by `---`), not a YAML parser;
anything it does not recognise in a Service, External or Route document is an error, so a change
of gen_mesh.py's format shows up here instead of as a silently smaller bundle.

OUT_DIR must be empty, missing, or a directory this script generated before (it is replaced).
"""
import argparse
import json
import os
import re
import shutil
import sys

MARKER = ".gen_audit_bundle.json"


def die(msg):
    sys.exit("gen_audit_bundle: " + msg)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mesh", required=True, help="a directory written by gen_mesh.py")
    ap.add_argument("--policies", default=os.path.normpath(os.path.join(
                        os.path.dirname(os.path.abspath(__file__)), "..", "policies")),
                    help="the reference bundle (default: ../policies beside this script)")
    ap.add_argument("--ungranted-every", type=int, default=100,
                    help="leave every K-th route with a source ungranted (0: grant them all)")
    ap.add_argument("out_dir")
    a = ap.parse_args(argv)
    if a.ungranted_every < 0:
        ap.error("--ungranted-every must be >= 0")
    return a


# --- reading gen_mesh.py's output -------------------------------------------------------------

def read_documents(path):
    """Yields (first line number, [lines]) for each document of one file."""
    doc, start = [], 1
    with open(path, encoding="ascii") as f:
        for no, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if line == "---":
                if doc:
                    yield start, doc
                doc, start = [], no + 1
            else:
                doc.append(line)
    if doc:
        yield start, doc


def split_document(where, lines):
    """[(key, value, [nested lines])] for the top-level keys of one document, in order."""
    out = []
    for line in lines:
        if not line.strip():
            continue
        if line.startswith(" "):
            if not out:
                die("%s: indented line before any key: %r" % (where, line))
            out[-1][2].append(line)
            continue
        key, sep, value = line.partition(":")
        if not sep:
            die("%s: not a 'key: value' line: %r" % (where, line))
        out.append((key, value.strip(), []))
    return out


def item_lines(where, key, nested):
    """The values of a block list `  - a` / `  - b` (one scalar per item)."""
    items = []
    for line in nested:
        if not line.startswith("  - "):
            die("%s: unexpected line under '%s': %r" % (where, key, line))
        items.append(line[4:].strip())
    return items


def service_ref(target):
    """'ns/name@cluster' or 'ns/name' -> 'ns/name'."""
    return target.split("@", 1)[0]


def read_mesh(mesh_dir):
    services = {}   # "ns/name" -> identity
    externals = {}  # name -> host
    routes = []     # {"name", "source" (ref or None), "services" [refs], "externals" [names], "where"}
    for dirpath, dirnames, filenames in os.walk(mesh_dir):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fn in sorted(filenames):
            if fn.startswith(".") or not fn.endswith((".yaml", ".yml")):
                continue
            path = os.path.join(dirpath, fn)
            for line_no, lines in read_documents(path):
                where = "%s:%d" % (path, line_no)
                fields = split_document(where, lines)
                top = {k: v for k, v, _ in fields}
                kind = top.get("kind")
                if kind == "Service":
                    for k in ("name", "namespace", "identity"):
                        if not top.get(k):
                            die("%s: Service without '%s'" % (where, k))
                    services["%s/%s" % (top["namespace"], top["name"])] = top["identity"]
                elif kind == "External":
                    if not top.get("name") or not top.get("host"):
                        die("%s: External without 'name' or 'host'" % where)
                    externals[top["name"]] = top["host"]
                elif kind == "Route":
                    routes.append(read_route(where, fields))
                elif kind is None:
                    die("%s: document without 'kind'" % where)
    return services, externals, routes


def read_route(where, fields):
    r = {"name": None, "source": None, "targets": [], "where": where}
    for key, value, nested in fields:
        if key == "name":
            r["name"] = value
        elif key == "source":
            r["source"] = value
        elif key in ("destination", "mirror"):
            if value:
                r["targets"].append(value)
            elif len(nested) == 1 and nested[0].startswith("  external: "):
                r["targets"].append(nested[0][len("  external: "):].strip())
            else:
                die("%s: cannot read '%s' of route: %r" % (where, key, nested))
        elif key == "destinations":
            for line in nested:
                if line.startswith("  - service: "):
                    r["targets"].append(line[len("  - service: "):].strip())
                elif line.startswith("  - "):
                    die("%s: unexpected destination item: %r" % (where, line))
                # "    cluster: ..." and "    weight: ..." belong to the item above
        elif key == "failover":
            r["targets"] += item_lines(where, key, nested)
    if not r["name"]:
        die("%s: Route without 'name'" % where)
    if not r["targets"]:
        die("%s: route %s has no destination" % (where, r["name"]))
    return r


# --- writing the bundle -----------------------------------------------------------------------

def lua_str(s):
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


def lua_list(items):
    if len(items) == 1:
        return lua_str(items[0])
    return "{ %s }" % ", ".join(lua_str(x) for x in items)


DECLARED_ROUTES_START = re.compile(
    r'^declared_routes_only[ \t]*\(?[ \t]*(?:"[^"\n]*"|\'[^\'\n]*\')[ \t]*\)?[ \t]*\{', re.M)
LONG_BRACKET = re.compile(r"\[(=*)\[")


def matching_brace(text, at, path):
    """The index of the '}' closing the '{' at text[at], skipping Lua strings and comments."""
    depth, i, n = 0, at, len(text)
    while i < n:
        c = text[i]
        if c == "-" and text.startswith("--", i):
            lb = LONG_BRACKET.match(text, i + 2)
            if lb:  # --[[ ... ]] or --[==[ ... ]==]
                end = text.find("]" + lb.group(1) + "]", lb.end())
            else:
                end = text.find("\n", i)
            if end < 0:
                break
            i = end + 1
            continue
        lb = LONG_BRACKET.match(text, i) if c == "[" else None
        if lb:  # [[ long string ]]
            end = text.find("]" + lb.group(1) + "]", lb.end())
            if end < 0:
                break
            i = end + len(lb.group(1)) + 2
            continue
        if c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            if j >= n or text[j] != c:
                die("%s: unterminated string at offset %d" % (path, i))
            i = j + 1
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    die("%s: the declared_routes_only block at offset %d is not closed" % (path, at))


def strip_declared_routes_only(text, path):
    """Removes the one `declared_routes_only "..." { ... }` block (and the comment lines right
    above it) from a policy file. A file that does not use declared_routes_only at all is returned
    as it is; otherwise fails unless there is exactly one block, closed on a line of its own
    (nothing but blanks after its '}'), and no other use remains."""
    starts = list(DECLARED_ROUTES_START.finditer(text))
    if not starts and not any("declared_routes_only" in line.split("--", 1)[0]
                              for line in text.split("\n")):
        # The reference bundle may have moved the rule out of this file (it did: into
        # traffic/declared.lua, policy traffic.routes, which this bundle does not copy).
        print("gen_audit_bundle: note: %s has no declared_routes_only rule; copied unchanged"
              % path, file=sys.stderr)
        return text
    if len(starts) != 1:
        die("%s: expected exactly one `declared_routes_only \"NAME\" {` at the start of a line, "
            "found %d; update strip_declared_routes_only() for the new layout" % (path, len(starts)))
    m = starts[0]
    close = matching_brace(text, m.end() - 1, path)
    eol = text.find("\n", close)
    eol = len(text) if eol < 0 else eol + 1
    if text[close + 1:eol].strip():
        die("%s: unexpected text after the '}' closing the declared_routes_only block: %r"
            % (path, text[close + 1:eol]))
    end = eol
    start = m.start()
    # The comment lines directly above the rule describe it: drop them with it.
    before = text[:start].split("\n")[:-1]  # complete lines before the block
    while before and before[-1].startswith("--") and not before[-1].startswith("----"):
        before.pop()
    head = "\n".join(before) + ("\n" if before else "")
    note = ("-- (bench/gen_audit_bundle.py: the declared_routes_only rule of the reference bundle "
            "is removed here:\n-- it names namespaces of examples/acme, which a generated mesh "
            "does not have.)\n")
    out = head + note + text[end:]
    for no, line in enumerate(out.split("\n"), 1):
        code = line.split("--", 1)[0]
        if "declared_routes_only" in code:
            die("%s: `declared_routes_only` still used after removing the block (line %d of the "
                "result): %r" % (path, no, line))
    if 'policy "traffic.baseline"' not in out:
        die("%s: the result lost its policy declaration" % path)
    return out


def prepare_out_dir(path):
    """Empties OUT_DIR if this script made it; refuses to touch any other non-empty directory."""
    if os.path.isdir(path) and os.listdir(path):
        if not os.path.exists(os.path.join(path, MARKER)):
            die("%s is not empty and was not made by gen_audit_bundle.py; refusing to overwrite it"
                % path)
        shutil.rmtree(path)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, MARKER), "w") as f:
        f.write("{}\n")


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="ascii", newline="\n") as f:
        f.write(text)


def main(argv):
    a = parse_args(argv)
    gen_json = os.path.join(a.mesh, ".gen_mesh.json")
    try:
        with open(gen_json) as f:
            gen = json.load(f)
    except (OSError, ValueError) as e:
        die("%s: not a gen_mesh.py directory (%s)" % (a.mesh, e))
    services, externals, routes = read_mesh(a.mesh)
    for what, got in (("services", len(services)), ("externals", len(externals)),
                      ("routes", len(routes))):
        if gen.get(what) != got:
            die("%s: read %d %s, .gen_mesh.json says %s: the reader and gen_mesh.py disagree"
                % (a.mesh, got, what, gen.get(what)))

    baseline_src = os.path.join(a.policies, "traffic", "baseline.lua")
    gdpr_src = os.path.join(a.policies, "residency", "gdpr.lua")
    with open(baseline_src, encoding="utf-8") as f:
        baseline = strip_declared_routes_only(f.read(), baseline_src)
    with open(gdpr_src, encoding="utf-8") as f:
        gdpr = f.read()

    # One rule per route with a source, filed under the source's namespace.
    per_ns = {}
    counts = {"routes": len(routes), "without_source": 0, "granted": 0, "ungranted": 0,
              "ungranted_targets": 0, "egress_rules": 0}
    ungranted = []
    k = 0
    for r in routes:
        if r["source"] is None:
            counts["without_source"] += 1
            continue
        src = r["source"]
        if src not in services:
            die("%s: route %s: source %s is not a service of the mesh" % (r["where"], r["name"], src))
        k += 1
        if a.ungranted_every and k % a.ungranted_every == a.ungranted_every // 2:
            counts["ungranted"] += 1
            counts["ungranted_targets"] += len(r["targets"])
            ungranted.append(r["name"])
            continue
        svcs, hosts = [], []
        for t in r["targets"]:
            if t in externals:
                if externals[t] not in hosts:
                    hosts.append(externals[t])
            elif service_ref(t) in services:
                if service_ref(t) not in svcs:
                    svcs.append(service_ref(t))
            else:
                die("%s: route %s: target %s is neither a service nor an external of the mesh"
                    % (r["where"], r["name"], t))
        lines = ['allow "route-%s" {' % r["name"]]
        if svcs:
            lines.append("  service = %s," % lua_list(svcs))
        if hosts:
            lines.append("  external = %s," % lua_list(hosts))
            counts["egress_rules"] += 1
        lines.append("  from = { principals = { %s } }," % lua_str(services[src]))
        lines.append("}")
        per_ns.setdefault(src.split("/", 1)[0], []).append("\n".join(lines) + "\n")
        counts["granted"] += 1

    prepare_out_dir(a.out_dir)
    n = gen["services"]
    write(os.path.join(a.out_dir, "bundle.yaml"),
          "# Generated by bench/gen_audit_bundle.py for %s (%d services, %d routes).\n"
          "name: audit-bench\nrevision: \"bench-%d\"\ndefault: deny\n"
          % (os.path.basename(os.path.normpath(a.mesh)), n, len(routes), n))
    write(os.path.join(a.out_dir, "traffic", "baseline.lua"), baseline)
    write(os.path.join(a.out_dir, "residency", "gdpr.lua"), gdpr)
    for ns in sorted(per_ns):
        head = ("-- Generated by bench/gen_audit_bundle.py: the declared routes from namespace %s.\n\n"
                "policy \"rbac.%s\" {\n  version = \"1.0.0\",\n  kind = \"rbac\",\n"
                "  enforcement = \"hard\",\n  severity = \"high\",\n"
                "  description = \"what the services of %s may call: one grant per declared route\",\n"
                "}\n\n" % (ns, ns, ns))
        write(os.path.join(a.out_dir, "rbac", ns + ".lua"), head + "\n".join(per_ns[ns]))

    summary = {"generator": "bench/gen_audit_bundle.py", "mesh": os.path.abspath(a.mesh),
               "services": n, "ungranted_every": a.ungranted_every, "rbac_files": len(per_ns),
               "counts": counts, "ungranted_routes": ungranted}
    with open(os.path.join(a.out_dir, MARKER), "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
        f.write("\n")
    print("gen_audit_bundle: %s: %d allow rules in %d files; %d routes without a source, "
          "%d left ungranted (%d targets)"
          % (a.out_dir, counts["granted"], len(per_ns), counts["without_source"],
             counts["ungranted"], counts["ungranted_targets"]), file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
