// AssemblyScript example (npm @solo-io/proxy-runtime 0.1.8): adds "x-as-plugin: <plugin
// configuration>" (or "x-as-plugin: on" when the configuration is empty) to every response.
export * from "@solo-io/proxy-runtime/proxy";
import {
  RootContext, Context, registerRootContext, FilterHeadersStatusValues, stream_context,
} from "@solo-io/proxy-runtime";

class TagRoot extends RootContext {
  createContext(context_id: u32): Context {
    return new TagStream(context_id, this);
  }
}

class TagStream extends Context {
  constructor(context_id: u32, root: TagRoot) {
    super(context_id, root);
  }

  onResponseHeaders(count: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const conf = this.root_context.getConfiguration();
    // Not `conf.length > 0 ? conf : "on"`: with AssemblyScript 0.14 that conditional releases
    // `conf` once too often, which frees the root context's configuration string after the
    // first stream and aborts the VM on the next one.
    let value = "on";
    if (conf.length > 0) value = conf;
    stream_context.headers.response.add("x-as-plugin", value);
    return FilterHeadersStatusValues.Continue;
  }
}

registerRootContext((id: u32) => { return new TagRoot(id); }, "as_add_header");
