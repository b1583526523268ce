// AssemblyScript example (npm @solo-io/proxy-runtime 0.1.8): holds each request while an HTTP
// callout to the cluster named by the plugin configuration (default "auth") asks GET /check;
// a 200 answer lets the request through, anything else (or a failed call) answers 403.
export * from "@solo-io/proxy-runtime/proxy";
import {
  RootContext, Context, registerRootContext, FilterHeadersStatusValues,
  stream_context, send_local_response, continue_request, GrpcStatusValues, Headers, HeaderPair,
  WasmResultValues,
} from "@solo-io/proxy-runtime";

class CalloutRoot extends RootContext {
  createContext(context_id: u32): Context {
    return new CalloutStream(context_id, this);
  }
}

function pair(k: string, v: string): HeaderPair {
  return new HeaderPair(String.UTF8.encode(k), String.UTF8.encode(v));
}

function deny(reason: string): void {
  const headers: Headers = [];
  send_local_response(403, reason, String.UTF8.encode("denied by as_callout\n"), headers,
                      GrpcStatusValues.InvalidCode);
}

// No closures in this AssemblyScript version: the callback is a plain function and the
// calling stream is the effective context again when it runs.
function onAnswer(origin: Context, headers: u32, body_size: usize, trailers: u32): void {
  const status = stream_context.headers.http_callback.get(":status");
  if (status == "200") {
    continue_request();
  } else {
    deny("as_callout_denied");
  }
}

class CalloutStream extends Context {
  constructor(context_id: u32, root: CalloutRoot) {
    super(context_id, root);
  }

  onRequestHeaders(count: u32, end_of_stream: bool): FilterHeadersStatusValues {
    let cluster = this.root_context.getConfiguration();
    if (cluster.length == 0) cluster = "auth";
    const headers: Headers = [
      pair(":method", "GET"), pair(":path", "/check"), pair(":authority", cluster),
      pair("x-original-path", stream_context.headers.request.get(":path")),
    ];
    const trailers: Headers = [];
    const r = this.root_context.httpCall(cluster, headers, new ArrayBuffer(0), trailers, 1000,
                                         this, onAnswer);
    if (r != WasmResultValues.Ok) {
      deny("as_callout_failed");
      return FilterHeadersStatusValues.StopIteration;
    }
    return FilterHeadersStatusValues.StopIteration;
  }
}

registerRootContext((id: u32) => { return new CalloutRoot(id); }, "as_callout");
