# Helpers for the Wasm integration tests: where the built plugins are, and Envoy-shaped YAML
# for envoy.filters.http.wasm, envoy.filters.network.wasm and envoy.bootstrap.wasm.
import os

from harness import Sluice, TestFailure, check_eq, sluice_bin

__all__ = ["plugin", "yq", "wasm_filter", "net_wasm_filter", "wasm_service", "Expecting"]


def plugin(name):
    """Path of a built plugin: $PLUGIN_DIR, else plugins/ beside the binary or its parent
    (sanitizer builds live one level below and share the plugins)."""
    d = os.environ.get("PLUGIN_DIR")
    if not d:
        b = os.path.dirname(os.path.abspath(sluice_bin()))
        d = os.path.join(b, "plugins")
        if not os.path.isdir(d):
            d = os.path.join(os.path.dirname(b), "plugins")
    p = os.path.join(d, name + ".wasm")
    if not os.path.exists(p):
        raise TestFailure("plugin not built: %s" % p)
    return p


def yq(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def wasm_filter(name, configuration="", root_id=None, vm_id=None, extra="", vm_extra="",
                runtime="sluice.wasm.runtime.interp"):
    """An envoy.filters.http.wasm entry (indent 10) the way Envoy's docs write it."""
    return """          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: %s
                root_id: %s
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: %s
%s                vm_config:
                  vm_id: %s
                  runtime: %s
                  code:
                    local:
                      filename: %s
%s""" % (name, root_id or name, yq(configuration), extra, vm_id or name, runtime,
         plugin(name), vm_extra)


def net_wasm_filter(name, configuration=""):
    return """      - name: envoy.filters.network.wasm
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm
          config:
            name: %s
            root_id: %s
            configuration:
              "@type": type.googleapis.com/google.protobuf.StringValue
              value: %s
            vm_config:
              vm_id: %s
              runtime: envoy.wasm.runtime.v8
              code:
                local:
                  filename: %s
""" % (name, name, yq(configuration), name, plugin(name))


class Expecting:
    """A Sluice whose log may hold [error] lines matching `allow` (failures under test); any
    other error line, or a sanitizer report, still fails the test."""

    def __init__(self, allow, *a, **kw):
        self.allow = allow
        self.s = Sluice(*a, **kw)

    def __enter__(self):
        return self.s

    def __exit__(self, et, ev, tb):
        self.s.stop()
        if et is None:
            check_eq(self.s.log_errors(allow=self.allow), [])
        return False


def wasm_service(name, configuration="", vm_id=None, singleton=True, root_id=None):
    """A bootstrap_extensions entry (top level) running a plugin as a Wasm service."""
    return """bootstrap_extensions:
- name: envoy.bootstrap.wasm
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.wasm.v3.WasmService
    singleton: %s
    config:
      name: %s
      root_id: %s
      configuration:
        "@type": type.googleapis.com/google.protobuf.StringValue
        value: %s
      vm_config:
        vm_id: %s
        code:
          local:
            filename: %s
""" % ("true" if singleton else "false", name, root_id or name, yq(configuration),
       vm_id or name, plugin(name))
