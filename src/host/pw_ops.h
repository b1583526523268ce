/* The interface the proxy implements for the host: pw_stream_ops_t (per stream: header maps,
 * body buffers, attributes, local reply, continue/close) and pw_dispatch_ops_t (per thread:
 * log sink, root timers). Declared in the public header so the proxy needs only sluice/host.h;
 * this file is the host-side name for it, per the layer layout. */
#ifndef SLUICE_PW_OPS_H
#define SLUICE_PW_OPS_H

#include "sluice/host.h"

#endif
