// AssemblyScript example (npm @solo-io/proxy-runtime 0.1.8): answers 403 with a short body
// for requests whose :path starts with the plugin configuration (default "/deny").
export * from "@solo-io/proxy-runtime/proxy";
import {
  RootContext, Context, registerRootContext, FilterHeadersStatusValues, stream_context,
  send_local_response, GrpcStatusValues, Headers,
} from "@solo-io/proxy-runtime";

class DenyRoot extends RootContext {
  createContext(context_id: u32): Context {
    return new DenyStream(context_id, this);
  }
}

class DenyStream extends Context {
  constructor(context_id: u32, root: DenyRoot) {
    super(context_id, root);
  }

  onRequestHeaders(count: u32, end_of_stream: bool): FilterHeadersStatusValues {
    let prefix = this.root_context.getConfiguration();
    if (prefix.length == 0) prefix = "/deny";
    const path = stream_context.headers.request.get(":path");
    if (!path.startsWith(prefix)) return FilterHeadersStatusValues.Continue;
    const headers: Headers = [];
    send_local_response(403, "as_deny", String.UTF8.encode("denied by as_deny\n"), headers,
                        GrpcStatusValues.InvalidCode);
    return FilterHeadersStatusValues.StopIteration;
  }
}

registerRootContext((id: u32) => { return new DenyRoot(id); }, "as_deny");
