/* Host tests: load each example plugin, drive fake HTTP streams and TCP connections through a
 * fake pw_stream_ops_t, and check headers, bodies, replies, lifecycle order and failures. */
#include "../../t.h"
#include "sluice/host.h"
#include "host/pw_internal.h" /* to wind a VM's context ids up to the wrap */

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#ifndef PW_TEST_PLUGIN_DIR
#define PW_TEST_PLUGIN_DIR "build/plugins"
#endif

/* Hand-assembled modules (from .wat sources kept in the comments of each test). */
static const unsigned char noabi_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60,
  0x01, 0x7f, 0x01, 0x7f, 0x03, 0x02, 0x01, 0x00, 0x05, 0x03, 0x01, 0x00,
  0x01, 0x07, 0x13, 0x02, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02,
  0x00, 0x06, 0x6d, 0x61, 0x6c, 0x6c, 0x6f, 0x63, 0x00, 0x00, 0x0a, 0x06,
  0x01, 0x04, 0x00, 0x41, 0x10, 0x0b
};
static const unsigned char badimport_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x09, 0x02, 0x60,
  0x01, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x00, 0x02, 0x1c, 0x01, 0x03, 0x65,
  0x6e, 0x76, 0x14, 0x70, 0x72, 0x6f, 0x78, 0x79, 0x5f, 0x64, 0x6f, 0x65,
  0x73, 0x5f, 0x6e, 0x6f, 0x74, 0x5f, 0x65, 0x78, 0x69, 0x73, 0x74, 0x00,
  0x00, 0x03, 0x03, 0x02, 0x01, 0x00, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07,
  0x2d, 0x03, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, 0x17,
  0x70, 0x72, 0x6f, 0x78, 0x79, 0x5f, 0x61, 0x62, 0x69, 0x5f, 0x76, 0x65,
  0x72, 0x73, 0x69, 0x6f, 0x6e, 0x5f, 0x30, 0x5f, 0x32, 0x5f, 0x30, 0x00,
  0x01, 0x06, 0x6d, 0x61, 0x6c, 0x6c, 0x6f, 0x63, 0x00, 0x02, 0x0a, 0x09,
  0x02, 0x02, 0x00, 0x0b, 0x04, 0x00, 0x41, 0x10, 0x0b
};
static const unsigned char badtype_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0f, 0x03, 0x60,
  0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x00, 0x60, 0x01, 0x7f, 0x01,
  0x7f, 0x02, 0x11, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x09, 0x70, 0x72, 0x6f,
  0x78, 0x79, 0x5f, 0x6c, 0x6f, 0x67, 0x00, 0x00, 0x03, 0x03, 0x02, 0x01,
  0x02, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x2d, 0x03, 0x06, 0x6d, 0x65,
  0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, 0x17, 0x70, 0x72, 0x6f, 0x78, 0x79,
  0x5f, 0x61, 0x62, 0x69, 0x5f, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e,
  0x5f, 0x30, 0x5f, 0x32, 0x5f, 0x30, 0x00, 0x01, 0x06, 0x6d, 0x61, 0x6c,
  0x6c, 0x6f, 0x63, 0x00, 0x02, 0x0a, 0x09, 0x02, 0x02, 0x00, 0x0b, 0x04,
  0x00, 0x41, 0x10, 0x0b
};
static const unsigned char v010_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x1c, 0x05, 0x60,
  0x05, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x01, 0x7f,
  0x60, 0x00, 0x00, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60, 0x02, 0x7f, 0x7f,
  0x01, 0x7f, 0x02, 0x3f, 0x02, 0x03, 0x65, 0x6e, 0x76, 0x1a, 0x70, 0x72,
  0x6f, 0x78, 0x79, 0x5f, 0x67, 0x65, 0x74, 0x5f, 0x68, 0x65, 0x61, 0x64,
  0x65, 0x72, 0x5f, 0x6d, 0x61, 0x70, 0x5f, 0x76, 0x61, 0x6c, 0x75, 0x65,
  0x00, 0x00, 0x03, 0x65, 0x6e, 0x76, 0x16, 0x70, 0x72, 0x6f, 0x78, 0x79,
  0x5f, 0x63, 0x6f, 0x6e, 0x74, 0x69, 0x6e, 0x75, 0x65, 0x5f, 0x72, 0x65,
  0x71, 0x75, 0x65, 0x73, 0x74, 0x00, 0x01, 0x03, 0x04, 0x03, 0x02, 0x03,
  0x04, 0x05, 0x03, 0x01, 0x00, 0x01, 0x06, 0x07, 0x01, 0x7f, 0x01, 0x41,
  0x80, 0x08, 0x0b, 0x07, 0x48, 0x04, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72,
  0x79, 0x02, 0x00, 0x17, 0x70, 0x72, 0x6f, 0x78, 0x79, 0x5f, 0x61, 0x62,
  0x69, 0x5f, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x5f, 0x30, 0x5f,
  0x31, 0x5f, 0x30, 0x00, 0x02, 0x06, 0x6d, 0x61, 0x6c, 0x6c, 0x6f, 0x63,
  0x00, 0x03, 0x18, 0x70, 0x72, 0x6f, 0x78, 0x79, 0x5f, 0x6f, 0x6e, 0x5f,
  0x72, 0x65, 0x71, 0x75, 0x65, 0x73, 0x74, 0x5f, 0x68, 0x65, 0x61, 0x64,
  0x65, 0x72, 0x73, 0x00, 0x04, 0x0a, 0x32, 0x03, 0x02, 0x00, 0x0b, 0x11,
  0x01, 0x01, 0x7f, 0x23, 0x00, 0x21, 0x01, 0x23, 0x00, 0x20, 0x00, 0x6a,
  0x24, 0x00, 0x20, 0x01, 0x0b, 0x1b, 0x00, 0x41, 0x00, 0x41, 0xe4, 0x00,
  0x41, 0x09, 0x41, 0xc8, 0x01, 0x41, 0xcc, 0x01, 0x10, 0x00, 0x41, 0xcc,
  0x01, 0x28, 0x02, 0x00, 0x41, 0x0a, 0x6c, 0x6a, 0x0b, 0x0b, 0x10, 0x01,
  0x00, 0x41, 0xe4, 0x00, 0x0b, 0x09, 0x78, 0x2d, 0x6d, 0x69, 0x73, 0x73,
  0x69, 0x6e, 0x67
};

static const unsigned char startexit0_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x13, 0x04, 0x60,
  0x01, 0x7f, 0x00, 0x60, 0x00, 0x00, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60,
  0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x02, 0x24, 0x01, 0x16, 0x77, 0x61, 0x73,
  0x69, 0x5f, 0x73, 0x6e, 0x61, 0x70, 0x73, 0x68, 0x6f, 0x74, 0x5f, 0x70,
  0x72, 0x65, 0x76, 0x69, 0x65, 0x77, 0x31, 0x09, 0x70, 0x72, 0x6f, 0x63,
  0x5f, 0x65, 0x78, 0x69, 0x74, 0x00, 0x00, 0x03, 0x05, 0x04, 0x01, 0x02,
  0x01, 0x03, 0x05, 0x03, 0x01, 0x00, 0x01, 0x06, 0x06, 0x01, 0x7f, 0x01,
  0x41, 0x00, 0x0b, 0x07, 0x4b, 0x05, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72,
  0x79, 0x02, 0x00, 0x17, 0x70, 0x72, 0x6f, 0x78, 0x79, 0x5f, 0x61, 0x62,
  0x69, 0x5f, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x5f, 0x30, 0x5f,
  0x32, 0x5f, 0x30, 0x00, 0x01, 0x06, 0x6d, 0x61, 0x6c, 0x6c, 0x6f, 0x63,
  0x00, 0x02, 0x06, 0x5f, 0x73, 0x74, 0x61, 0x72, 0x74, 0x00, 0x03, 0x12,
  0x70, 0x72, 0x6f, 0x78, 0x79, 0x5f, 0x6f, 0x6e, 0x5f, 0x63, 0x6f, 0x6e,
  0x66, 0x69, 0x67, 0x75, 0x72, 0x65, 0x00, 0x04, 0x0a, 0x1b, 0x04, 0x02,
  0x00, 0x0b, 0x05, 0x00, 0x41, 0x80, 0x08, 0x0b, 0x0b, 0x00, 0x41, 0x01,
  0x24, 0x00, 0x41, 0x00, 0x10, 0x00, 0x00, 0x0b, 0x04, 0x00, 0x23, 0x00,
  0x0b
};
static const unsigned char startexit3_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x13, 0x04, 0x60,
  0x01, 0x7f, 0x00, 0x60, 0x00, 0x00, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60,
  0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x02, 0x24, 0x01, 0x16, 0x77, 0x61, 0x73,
  0x69, 0x5f, 0x73, 0x6e, 0x61, 0x70, 0x73, 0x68, 0x6f, 0x74, 0x5f, 0x70,
  0x72, 0x65, 0x76, 0x69, 0x65, 0x77, 0x31, 0x09, 0x70, 0x72, 0x6f, 0x63,
  0x5f, 0x65, 0x78, 0x69, 0x74, 0x00, 0x00, 0x03, 0x05, 0x04, 0x01, 0x02,
  0x01, 0x03, 0x05, 0x03, 0x01, 0x00, 0x01, 0x06, 0x06, 0x01, 0x7f, 0x01,
  0x41, 0x00, 0x0b, 0x07, 0x4b, 0x05, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72,
  0x79, 0x02, 0x00, 0x17, 0x70, 0x72, 0x6f, 0x78, 0x79, 0x5f, 0x61, 0x62,
  0x69, 0x5f, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x5f, 0x30, 0x5f,
  0x32, 0x5f, 0x30, 0x00, 0x01, 0x06, 0x6d, 0x61, 0x6c, 0x6c, 0x6f, 0x63,
  0x00, 0x02, 0x06, 0x5f, 0x73, 0x74, 0x61, 0x72, 0x74, 0x00, 0x03, 0x12,
  0x70, 0x72, 0x6f, 0x78, 0x79, 0x5f, 0x6f, 0x6e, 0x5f, 0x63, 0x6f, 0x6e,
  0x66, 0x69, 0x67, 0x75, 0x72, 0x65, 0x00, 0x04, 0x0a, 0x1b, 0x04, 0x02,
  0x00, 0x0b, 0x05, 0x00, 0x41, 0x80, 0x08, 0x0b, 0x0b, 0x00, 0x41, 0x01,
  0x24, 0x00, 0x41, 0x03, 0x10, 0x00, 0x00, 0x0b, 0x04, 0x00, 0x23, 0x00,
  0x0b
};
static const unsigned char restricted_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x09, 0x02, 0x60,
  0x01, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x00, 0x02, 0x2a, 0x01, 0x03, 0x65,
  0x6e, 0x76, 0x22, 0x70, 0x72, 0x6f, 0x78, 0x79, 0x5f, 0x67, 0x65, 0x74,
  0x5f, 0x63, 0x75, 0x72, 0x72, 0x65, 0x6e, 0x74, 0x5f, 0x74, 0x69, 0x6d,
  0x65, 0x5f, 0x6e, 0x61, 0x6e, 0x6f, 0x73, 0x65, 0x63, 0x6f, 0x6e, 0x64,
  0x73, 0x00, 0x00, 0x03, 0x04, 0x03, 0x01, 0x00, 0x01, 0x05, 0x03, 0x01,
  0x00, 0x01, 0x07, 0x3b, 0x04, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79,
  0x02, 0x00, 0x17, 0x70, 0x72, 0x6f, 0x78, 0x79, 0x5f, 0x61, 0x62, 0x69,
  0x5f, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x5f, 0x30, 0x5f, 0x32,
  0x5f, 0x31, 0x00, 0x01, 0x06, 0x6d, 0x61, 0x6c, 0x6c, 0x6f, 0x63, 0x00,
  0x02, 0x0b, 0x5f, 0x69, 0x6e, 0x69, 0x74, 0x69, 0x61, 0x6c, 0x69, 0x7a,
  0x65, 0x00, 0x03, 0x0a, 0x13, 0x03, 0x02, 0x00, 0x0b, 0x05, 0x00, 0x41,
  0x80, 0x08, 0x0b, 0x08, 0x00, 0x41, 0xc0, 0x00, 0x10, 0x00, 0x1a, 0x0b
};
static const unsigned char wasibadtype_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x09, 0x02, 0x60,
  0x01, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x00, 0x02, 0x23, 0x01, 0x16, 0x77,
  0x61, 0x73, 0x69, 0x5f, 0x73, 0x6e, 0x61, 0x70, 0x73, 0x68, 0x6f, 0x74,
  0x5f, 0x70, 0x72, 0x65, 0x76, 0x69, 0x65, 0x77, 0x31, 0x08, 0x66, 0x64,
  0x5f, 0x77, 0x72, 0x69, 0x74, 0x65, 0x00, 0x00, 0x03, 0x03, 0x02, 0x01,
  0x00, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x2d, 0x03, 0x06, 0x6d, 0x65,
  0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, 0x17, 0x70, 0x72, 0x6f, 0x78, 0x79,
  0x5f, 0x61, 0x62, 0x69, 0x5f, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e,
  0x5f, 0x30, 0x5f, 0x32, 0x5f, 0x31, 0x00, 0x01, 0x06, 0x6d, 0x61, 0x6c,
  0x6c, 0x6f, 0x63, 0x00, 0x02, 0x0a, 0x0a, 0x02, 0x02, 0x00, 0x0b, 0x05,
  0x00, 0x41, 0x80, 0x08, 0x0b
};
static const unsigned char wasimissing_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x09, 0x02, 0x60,
  0x01, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x00, 0x02, 0x1e, 0x01, 0x0d, 0x77,
  0x61, 0x73, 0x69, 0x5f, 0x75, 0x6e, 0x73, 0x74, 0x61, 0x62, 0x6c, 0x65,
  0x0c, 0x6e, 0x6f, 0x5f, 0x73, 0x75, 0x63, 0x68, 0x5f, 0x63, 0x61, 0x6c,
  0x6c, 0x00, 0x00, 0x03, 0x03, 0x02, 0x01, 0x00, 0x05, 0x03, 0x01, 0x00,
  0x01, 0x07, 0x2d, 0x03, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02,
  0x00, 0x17, 0x70, 0x72, 0x6f, 0x78, 0x79, 0x5f, 0x61, 0x62, 0x69, 0x5f,
  0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x5f, 0x30, 0x5f, 0x32, 0x5f,
  0x31, 0x00, 0x01, 0x06, 0x6d, 0x61, 0x6c, 0x6c, 0x6f, 0x63, 0x00, 0x02,
  0x0a, 0x0a, 0x02, 0x02, 0x00, 0x0b, 0x05, 0x00, 0x41, 0x80, 0x08, 0x0b
};
static const unsigned char wasistart_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x11, 0x03, 0x60,
  0x04, 0x7f, 0x7f, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x00, 0x60, 0x01,
  0x7f, 0x01, 0x7f, 0x02, 0x44, 0x02, 0x16, 0x77, 0x61, 0x73, 0x69, 0x5f,
  0x73, 0x6e, 0x61, 0x70, 0x73, 0x68, 0x6f, 0x74, 0x5f, 0x70, 0x72, 0x65,
  0x76, 0x69, 0x65, 0x77, 0x31, 0x08, 0x66, 0x64, 0x5f, 0x77, 0x72, 0x69,
  0x74, 0x65, 0x00, 0x00, 0x16, 0x77, 0x61, 0x73, 0x69, 0x5f, 0x73, 0x6e,
  0x61, 0x70, 0x73, 0x68, 0x6f, 0x74, 0x5f, 0x70, 0x72, 0x65, 0x76, 0x69,
  0x65, 0x77, 0x31, 0x07, 0x66, 0x64, 0x5f, 0x72, 0x65, 0x61, 0x64, 0x00,
  0x00, 0x03, 0x04, 0x03, 0x01, 0x02, 0x01, 0x05, 0x03, 0x01, 0x00, 0x01,
  0x07, 0x3b, 0x04, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00,
  0x17, 0x70, 0x72, 0x6f, 0x78, 0x79, 0x5f, 0x61, 0x62, 0x69, 0x5f, 0x76,
  0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x5f, 0x30, 0x5f, 0x32, 0x5f, 0x31,
  0x00, 0x02, 0x06, 0x6d, 0x61, 0x6c, 0x6c, 0x6f, 0x63, 0x00, 0x03, 0x0b,
  0x5f, 0x69, 0x6e, 0x69, 0x74, 0x69, 0x61, 0x6c, 0x69, 0x7a, 0x65, 0x00,
  0x04, 0x0a, 0x23, 0x03, 0x02, 0x00, 0x0b, 0x05, 0x00, 0x41, 0x80, 0x08,
  0x0b, 0x18, 0x00, 0x41, 0x01, 0x41, 0x10, 0x41, 0x01, 0x41, 0x08, 0x10,
  0x00, 0x1a, 0x41, 0x00, 0x41, 0x10, 0x41, 0x01, 0x41, 0x08, 0x10, 0x01,
  0x1a, 0x0b, 0x0b, 0x1a, 0x02, 0x00, 0x41, 0x10, 0x0b, 0x08, 0x40, 0x00,
  0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x41, 0xc0, 0x00, 0x0b, 0x06,
  0x73, 0x74, 0x61, 0x72, 0x74, 0x0a
};
static const unsigned char badexport_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x09, 0x02, 0x60,
  0x00, 0x00, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x03, 0x04, 0x03, 0x00, 0x01,
  0x01, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x48, 0x04, 0x06, 0x6d, 0x65,
  0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, 0x17, 0x70, 0x72, 0x6f, 0x78, 0x79,
  0x5f, 0x61, 0x62, 0x69, 0x5f, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e,
  0x5f, 0x30, 0x5f, 0x32, 0x5f, 0x30, 0x00, 0x00, 0x06, 0x6d, 0x61, 0x6c,
  0x6c, 0x6f, 0x63, 0x00, 0x01, 0x18, 0x70, 0x72, 0x6f, 0x78, 0x79, 0x5f,
  0x6f, 0x6e, 0x5f, 0x72, 0x65, 0x71, 0x75, 0x65, 0x73, 0x74, 0x5f, 0x68,
  0x65, 0x61, 0x64, 0x65, 0x72, 0x73, 0x00, 0x02, 0x0a, 0x0f, 0x03, 0x02,
  0x00, 0x0b, 0x05, 0x00, 0x41, 0x80, 0x08, 0x0b, 0x04, 0x00, 0x41, 0x00,
  0x0b
};
/* ABI 0.1.0; proxy_on_log asks for a response header while that map is unavailable, then
 * traps unless the answer was OK with an empty value (pointer and size 0). */
static const unsigned char logv010_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x1b, 0x05, 0x60,
  0x05, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x00, 0x60,
  0x01, 0x7f, 0x01, 0x7f, 0x60, 0x02, 0x7f, 0x7f, 0x00, 0x60, 0x01, 0x7f,
  0x00, 0x02, 0x22, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x1a, 0x70, 0x72, 0x6f,
  0x78, 0x79, 0x5f, 0x67, 0x65, 0x74, 0x5f, 0x68, 0x65, 0x61, 0x64, 0x65,
  0x72, 0x5f, 0x6d, 0x61, 0x70, 0x5f, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x00,
  0x00, 0x03, 0x05, 0x04, 0x01, 0x02, 0x03, 0x04, 0x05, 0x03, 0x01, 0x00,
  0x01, 0x06, 0x07, 0x01, 0x7f, 0x01, 0x41, 0x80, 0x20, 0x0b, 0x07, 0x56,
  0x05, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, 0x17, 0x70,
  0x72, 0x6f, 0x78, 0x79, 0x5f, 0x61, 0x62, 0x69, 0x5f, 0x76, 0x65, 0x72,
  0x73, 0x69, 0x6f, 0x6e, 0x5f, 0x30, 0x5f, 0x31, 0x5f, 0x30, 0x00, 0x01,
  0x06, 0x6d, 0x61, 0x6c, 0x6c, 0x6f, 0x63, 0x00, 0x02, 0x17, 0x70, 0x72,
  0x6f, 0x78, 0x79, 0x5f, 0x6f, 0x6e, 0x5f, 0x63, 0x6f, 0x6e, 0x74, 0x65,
  0x78, 0x74, 0x5f, 0x63, 0x72, 0x65, 0x61, 0x74, 0x65, 0x00, 0x03, 0x0c,
  0x70, 0x72, 0x6f, 0x78, 0x79, 0x5f, 0x6f, 0x6e, 0x5f, 0x6c, 0x6f, 0x67,
  0x00, 0x04, 0x0a, 0x50, 0x04, 0x02, 0x00, 0x0b, 0x11, 0x01, 0x01, 0x7f,
  0x23, 0x00, 0x21, 0x01, 0x23, 0x00, 0x20, 0x00, 0x6a, 0x24, 0x00, 0x20,
  0x01, 0x0b, 0x02, 0x00, 0x0b, 0x36, 0x00, 0x41, 0xc8, 0x01, 0x41, 0x7f,
  0x36, 0x02, 0x00, 0x41, 0xcc, 0x01, 0x41, 0x7f, 0x36, 0x02, 0x00, 0x41,
  0x02, 0x41, 0xe4, 0x00, 0x41, 0x05, 0x41, 0xc8, 0x01, 0x41, 0xcc, 0x01,
  0x10, 0x00, 0x04, 0x40, 0x00, 0x0b, 0x41, 0xc8, 0x01, 0x28, 0x02, 0x00,
  0x41, 0xcc, 0x01, 0x28, 0x02, 0x00, 0x72, 0x04, 0x40, 0x00, 0x0b, 0x0b,
  0x0b, 0x0c, 0x01, 0x00, 0x41, 0xe4, 0x00, 0x0b, 0x05, 0x78, 0x2d, 0x6f,
  0x75, 0x74
};
/* proxy_on_request_headers sets the request headers to one pair whose name is empty;
 * it traps unless the host answers OK. */
static const unsigned char emptykey_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x15, 0x04, 0x60,
  0x03, 0x7f, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x00, 0x60, 0x01, 0x7f,
  0x01, 0x7f, 0x60, 0x02, 0x7f, 0x7f, 0x00, 0x02, 0x22, 0x01, 0x03, 0x65,
  0x6e, 0x76, 0x1a, 0x70, 0x72, 0x6f, 0x78, 0x79, 0x5f, 0x73, 0x65, 0x74,
  0x5f, 0x68, 0x65, 0x61, 0x64, 0x65, 0x72, 0x5f, 0x6d, 0x61, 0x70, 0x5f,
  0x70, 0x61, 0x69, 0x72, 0x73, 0x00, 0x00, 0x03, 0x05, 0x04, 0x01, 0x02,
  0x03, 0x00, 0x05, 0x03, 0x01, 0x00, 0x01, 0x06, 0x07, 0x01, 0x7f, 0x01,
  0x41, 0x80, 0x20, 0x0b, 0x07, 0x74, 0x05, 0x06, 0x6d, 0x65, 0x6d, 0x6f,
  0x72, 0x79, 0x02, 0x00, 0x17, 0x70, 0x72, 0x6f, 0x78, 0x79, 0x5f, 0x61,
  0x62, 0x69, 0x5f, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x5f, 0x30,
  0x5f, 0x32, 0x5f, 0x31, 0x00, 0x01, 0x18, 0x70, 0x72, 0x6f, 0x78, 0x79,
  0x5f, 0x6f, 0x6e, 0x5f, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x5f, 0x61,
  0x6c, 0x6c, 0x6f, 0x63, 0x61, 0x74, 0x65, 0x00, 0x02, 0x17, 0x70, 0x72,
  0x6f, 0x78, 0x79, 0x5f, 0x6f, 0x6e, 0x5f, 0x63, 0x6f, 0x6e, 0x74, 0x65,
  0x78, 0x74, 0x5f, 0x63, 0x72, 0x65, 0x61, 0x74, 0x65, 0x00, 0x03, 0x18,
  0x70, 0x72, 0x6f, 0x78, 0x79, 0x5f, 0x6f, 0x6e, 0x5f, 0x72, 0x65, 0x71,
  0x75, 0x65, 0x73, 0x74, 0x5f, 0x68, 0x65, 0x61, 0x64, 0x65, 0x72, 0x73,
  0x00, 0x04, 0x0a, 0x2b, 0x04, 0x02, 0x00, 0x0b, 0x11, 0x01, 0x01, 0x7f,
  0x23, 0x00, 0x21, 0x01, 0x23, 0x00, 0x20, 0x00, 0x6a, 0x24, 0x00, 0x20,
  0x01, 0x0b, 0x02, 0x00, 0x0b, 0x11, 0x00, 0x41, 0x00, 0x41, 0xe4, 0x00,
  0x41, 0x0f, 0x10, 0x00, 0x04, 0x40, 0x00, 0x0b, 0x41, 0x00, 0x0b, 0x0b,
  0x16, 0x01, 0x00, 0x41, 0xe4, 0x00, 0x0b, 0x0f, 0x01, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x76, 0x00
};
/* proxy_on_request_headers asks to continue the response, which nothing has paused. */
static const unsigned char contresp_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x15, 0x04, 0x60,
  0x01, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x00, 0x60, 0x02, 0x7f, 0x7f, 0x00,
  0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x01, 0x7f, 0x02, 0x1d, 0x01, 0x03, 0x65,
  0x6e, 0x76, 0x15, 0x70, 0x72, 0x6f, 0x78, 0x79, 0x5f, 0x63, 0x6f, 0x6e,
  0x74, 0x69, 0x6e, 0x75, 0x65, 0x5f, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d,
  0x00, 0x00, 0x03, 0x05, 0x04, 0x01, 0x00, 0x02, 0x03, 0x05, 0x03, 0x01,
  0x00, 0x01, 0x07, 0x74, 0x05, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79,
  0x02, 0x00, 0x17, 0x70, 0x72, 0x6f, 0x78, 0x79, 0x5f, 0x61, 0x62, 0x69,
  0x5f, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x5f, 0x30, 0x5f, 0x32,
  0x5f, 0x31, 0x00, 0x01, 0x18, 0x70, 0x72, 0x6f, 0x78, 0x79, 0x5f, 0x6f,
  0x6e, 0x5f, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x5f, 0x61, 0x6c, 0x6c,
  0x6f, 0x63, 0x61, 0x74, 0x65, 0x00, 0x02, 0x17, 0x70, 0x72, 0x6f, 0x78,
  0x79, 0x5f, 0x6f, 0x6e, 0x5f, 0x63, 0x6f, 0x6e, 0x74, 0x65, 0x78, 0x74,
  0x5f, 0x63, 0x72, 0x65, 0x61, 0x74, 0x65, 0x00, 0x03, 0x18, 0x70, 0x72,
  0x6f, 0x78, 0x79, 0x5f, 0x6f, 0x6e, 0x5f, 0x72, 0x65, 0x71, 0x75, 0x65,
  0x73, 0x74, 0x5f, 0x68, 0x65, 0x61, 0x64, 0x65, 0x72, 0x73, 0x00, 0x04,
  0x0a, 0x17, 0x04, 0x02, 0x00, 0x0b, 0x05, 0x00, 0x41, 0x80, 0x20, 0x0b,
  0x02, 0x00, 0x0b, 0x09, 0x00, 0x41, 0x01, 0x10, 0x00, 0x1a, 0x41, 0x00,
  0x0b
};
static const unsigned char alloctrap_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x19, 0x04, 0x60,
  0x05, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x00, 0x60,
  0x01, 0x7f, 0x01, 0x7f, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x01, 0x7f, 0x02,
  0x22, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x1a, 0x70, 0x72, 0x6f, 0x78, 0x79,
  0x5f, 0x67, 0x65, 0x74, 0x5f, 0x68, 0x65, 0x61, 0x64, 0x65, 0x72, 0x5f,
  0x6d, 0x61, 0x70, 0x5f, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x00, 0x00, 0x03,
  0x04, 0x03, 0x01, 0x02, 0x03, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x48,
  0x04, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, 0x17, 0x70,
  0x72, 0x6f, 0x78, 0x79, 0x5f, 0x61, 0x62, 0x69, 0x5f, 0x76, 0x65, 0x72,
  0x73, 0x69, 0x6f, 0x6e, 0x5f, 0x30, 0x5f, 0x32, 0x5f, 0x30, 0x00, 0x01,
  0x06, 0x6d, 0x61, 0x6c, 0x6c, 0x6f, 0x63, 0x00, 0x02, 0x18, 0x70, 0x72,
  0x6f, 0x78, 0x79, 0x5f, 0x6f, 0x6e, 0x5f, 0x72, 0x65, 0x71, 0x75, 0x65,
  0x73, 0x74, 0x5f, 0x68, 0x65, 0x61, 0x64, 0x65, 0x72, 0x73, 0x00, 0x03,
  0x0a, 0x1a, 0x03, 0x02, 0x00, 0x0b, 0x03, 0x00, 0x00, 0x0b, 0x11, 0x00,
  0x41, 0x00, 0x41, 0xe4, 0x00, 0x41, 0x05, 0x41, 0xc8, 0x01, 0x41, 0xcc,
  0x01, 0x10, 0x00, 0x0b, 0x0b, 0x0c, 0x01, 0x00, 0x41, 0xe4, 0x00, 0x0b,
  0x05, 0x3a, 0x70, 0x61, 0x74, 0x68
};
static const unsigned char allocnull_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x19, 0x04, 0x60,
  0x05, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x00, 0x60,
  0x01, 0x7f, 0x01, 0x7f, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x01, 0x7f, 0x02,
  0x22, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x1a, 0x70, 0x72, 0x6f, 0x78, 0x79,
  0x5f, 0x67, 0x65, 0x74, 0x5f, 0x68, 0x65, 0x61, 0x64, 0x65, 0x72, 0x5f,
  0x6d, 0x61, 0x70, 0x5f, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x00, 0x00, 0x03,
  0x04, 0x03, 0x01, 0x02, 0x03, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x48,
  0x04, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, 0x17, 0x70,
  0x72, 0x6f, 0x78, 0x79, 0x5f, 0x61, 0x62, 0x69, 0x5f, 0x76, 0x65, 0x72,
  0x73, 0x69, 0x6f, 0x6e, 0x5f, 0x30, 0x5f, 0x32, 0x5f, 0x30, 0x00, 0x01,
  0x06, 0x6d, 0x61, 0x6c, 0x6c, 0x6f, 0x63, 0x00, 0x02, 0x18, 0x70, 0x72,
  0x6f, 0x78, 0x79, 0x5f, 0x6f, 0x6e, 0x5f, 0x72, 0x65, 0x71, 0x75, 0x65,
  0x73, 0x74, 0x5f, 0x68, 0x65, 0x61, 0x64, 0x65, 0x72, 0x73, 0x00, 0x03,
  0x0a, 0x1e, 0x03, 0x02, 0x00, 0x0b, 0x04, 0x00, 0x41, 0x00, 0x0b, 0x14,
  0x00, 0x41, 0x06, 0x41, 0x00, 0x41, 0xe4, 0x00, 0x41, 0x05, 0x41, 0xc8,
  0x01, 0x41, 0xcc, 0x01, 0x10, 0x00, 0x47, 0x0b, 0x0b, 0x0c, 0x01, 0x00,
  0x41, 0xe4, 0x00, 0x0b, 0x05, 0x3a, 0x70, 0x61, 0x74, 0x68
};

/* (memory (export "memory") 1) (func (export "proxy_abi_version_0_2_0"))
 * (func (export "malloc") (param i32) (result i32) i32.const 1024)
 * (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) i32.const 1)
 * (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
 *   local.get 0 drop i32.const 0)
 * (func (export "trapping_headers") (param i32 i32 i32) (result i32) unreachable) */
static const unsigned char constcb_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x10, 0x03, 0x60,
  0x00, 0x00, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60, 0x03, 0x7f, 0x7f, 0x7f,
  0x01, 0x7f, 0x03, 0x06, 0x05, 0x00, 0x01, 0x02, 0x02, 0x02, 0x05, 0x03,
  0x01, 0x00, 0x01, 0x07, 0x77, 0x06, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72,
  0x79, 0x02, 0x00, 0x17, 0x70, 0x72, 0x6f, 0x78, 0x79, 0x5f, 0x61, 0x62,
  0x69, 0x5f, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x5f, 0x30, 0x5f,
  0x32, 0x5f, 0x30, 0x00, 0x00, 0x06, 0x6d, 0x61, 0x6c, 0x6c, 0x6f, 0x63,
  0x00, 0x01, 0x18, 0x70, 0x72, 0x6f, 0x78, 0x79, 0x5f, 0x6f, 0x6e, 0x5f,
  0x72, 0x65, 0x71, 0x75, 0x65, 0x73, 0x74, 0x5f, 0x68, 0x65, 0x61, 0x64,
  0x65, 0x72, 0x73, 0x00, 0x02, 0x19, 0x70, 0x72, 0x6f, 0x78, 0x79, 0x5f,
  0x6f, 0x6e, 0x5f, 0x72, 0x65, 0x73, 0x70, 0x6f, 0x6e, 0x73, 0x65, 0x5f,
  0x68, 0x65, 0x61, 0x64, 0x65, 0x72, 0x73, 0x00, 0x03, 0x10, 0x74, 0x72,
  0x61, 0x70, 0x70, 0x69, 0x6e, 0x67, 0x5f, 0x68, 0x65, 0x61, 0x64, 0x65,
  0x72, 0x73, 0x00, 0x04, 0x0a, 0x1b, 0x05, 0x02, 0x00, 0x0b, 0x05, 0x00,
  0x41, 0x80, 0x08, 0x0b, 0x04, 0x00, 0x41, 0x01, 0x0b, 0x07, 0x00, 0x20,
  0x00, 0x1a, 0x41, 0x00, 0x0b, 0x03, 0x00, 0x00, 0x0b
};

/* ---- a fake proxy stream ---------------------------------------------------------------- */

enum { MAXH = 64 };
typedef struct fmap {
    char *k[MAXH], *v[MAXH];
    uint32_t n;
    bool avail;
} fmap_t;

typedef struct fake {
    fmap_t maps[4];
    char *body[4];
    size_t body_len[4];
    bool body_avail[4];
    const char *path, *source;
    int replies;
    uint32_t reply_status;
    char reply_details[64], reply_body[256], reply_hdrs[256];
    int continues[4], closes[4];
} fake_t;

static char logbuf[16384];

static void cap_log(void *ud, pw_log_level_t lvl, const char *who, const char *msg, size_t len)
{
    (void)ud, (void)who;
    size_t l = strlen(logbuf);
    snprintf(logbuf + l, sizeof logbuf - l, "%d|%.*s\n", (int)lvl, (int)len, msg);
}

static const pw_dispatch_ops_t dops = {.log = cap_log};

static pw_result_t f_count(void *s, pw_map_type_t m, uint32_t *n)
{
    fake_t *f = s;
    if (!f->maps[m].avail)
        return PW_R_BAD_ARGUMENT;
    *n = f->maps[m].n;
    return PW_R_OK;
}

static pw_result_t f_entry(void *s, pw_map_type_t m, uint32_t i, pw_header_t *out)
{
    fake_t *f = s;
    if (i >= f->maps[m].n)
        return PW_R_NOT_FOUND;
    out->key = (pw_slice_t){(const uint8_t *)f->maps[m].k[i], strlen(f->maps[m].k[i])};
    out->value = (pw_slice_t){(const uint8_t *)f->maps[m].v[i], strlen(f->maps[m].v[i])};
    return PW_R_OK;
}

static int find_key(fmap_t *fm, pw_slice_t key)
{
    for (uint32_t i = 0; i < fm->n; i++)
        if (strlen(fm->k[i]) == key.len && memcmp(fm->k[i], key.ptr, key.len) == 0)
            return (int)i;
    return -1;
}

static pw_result_t f_get(void *s, pw_map_type_t m, pw_slice_t key, pw_slice_t *val)
{
    fake_t *f = s;
    if (!f->maps[m].avail)
        return PW_R_BAD_ARGUMENT;
    int i = find_key(&f->maps[m], key);
    if (i < 0)
        return PW_R_NOT_FOUND;
    *val = (pw_slice_t){(const uint8_t *)f->maps[m].v[i], strlen(f->maps[m].v[i])};
    return PW_R_OK;
}

static char *dupn(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}

static pw_result_t f_add(void *s, pw_map_type_t m, pw_slice_t key, pw_slice_t val)
{
    fake_t *f = s;
    fmap_t *fm = &f->maps[m];
    if (!fm->avail || fm->n == MAXH)
        return PW_R_BAD_ARGUMENT;
    fm->k[fm->n] = dupn(key.ptr, key.len);
    fm->v[fm->n++] = dupn(val.ptr, val.len);
    return PW_R_OK;
}

static pw_result_t f_remove(void *s, pw_map_type_t m, pw_slice_t key)
{
    fake_t *f = s;
    fmap_t *fm = &f->maps[m];
    if (!fm->avail)
        return PW_R_BAD_ARGUMENT;
    int i;
    while ((i = find_key(fm, key)) >= 0) {
        free(fm->k[i]);
        free(fm->v[i]);
        memmove(&fm->k[i], &fm->k[i + 1], (fm->n - (uint32_t)i - 1) * sizeof(char *));
        memmove(&fm->v[i], &fm->v[i + 1], (fm->n - (uint32_t)i - 1) * sizeof(char *));
        fm->n--;
    }
    return PW_R_OK;
}

static pw_result_t f_replace(void *s, pw_map_type_t m, pw_slice_t key, pw_slice_t val)
{
    pw_result_t r = f_remove(s, m, key);
    return r == PW_R_OK ? f_add(s, m, key, val) : r;
}

static pw_result_t f_set_all(void *s, pw_map_type_t m, const pw_header_t *h, size_t n)
{
    fake_t *f = s;
    fmap_t *fm = &f->maps[m];
    if (!fm->avail)
        return PW_R_BAD_ARGUMENT;
    while (fm->n) {
        fm->n--;
        free(fm->k[fm->n]);
        free(fm->v[fm->n]);
    }
    for (size_t i = 0; i < n; i++)
        f_add(s, m, h[i].key, h[i].value);
    return PW_R_OK;
}

static pw_result_t f_bsize(void *s, pw_buffer_type_t b, size_t *len)
{
    fake_t *f = s;
    if (!f->body_avail[b])
        return PW_R_NOT_FOUND;
    *len = f->body_len[b];
    return PW_R_OK;
}

static pw_result_t f_bcopy(void *s, pw_buffer_type_t b, size_t start, size_t len, uint8_t *dst)
{
    fake_t *f = s;
    memcpy(dst, f->body[b] + start, len);
    return PW_R_OK;
}

static pw_result_t f_bsplice(void *s, pw_buffer_type_t b, size_t start, size_t rm, pw_slice_t d)
{
    fake_t *f = s;
    size_t nl = f->body_len[b] - rm + d.len;
    char *nb = malloc(nl + 1);
    memcpy(nb, f->body[b], start);
    memcpy(nb + start, d.ptr, d.len);
    memcpy(nb + start + d.len, f->body[b] + start + rm, f->body_len[b] - start - rm);
    nb[nl] = 0;
    free(f->body[b]);
    f->body[b] = nb;
    f->body_len[b] = nl;
    return PW_R_OK;
}

static pw_result_t f_attr(void *s, pw_attr_t a, pw_attr_value_t *out)
{
    fake_t *f = s;
    const char *v = a == PW_ATTR_REQUEST_PATH ? f->path : a == PW_ATTR_SOURCE_ADDRESS ? f->source
                                                                                      : NULL;
    if (a == PW_ATTR_SOURCE_PORT) {
        out->kind = PW_VAL_INT;
        out->u.i = 4242;
        return PW_R_OK;
    }
    if (!v)
        return PW_R_NOT_FOUND;
    out->kind = PW_VAL_STRING;
    out->u.str = (pw_slice_t){(const uint8_t *)v, strlen(v)};
    return PW_R_OK;
}

static void f_reply(void *s, uint32_t status, pw_slice_t details, pw_slice_t body,
                    const pw_header_t *h, size_t n, int32_t grpc)
{
    fake_t *f = s;
    (void)grpc;
    f->replies++;
    f->reply_status = status;
    snprintf(f->reply_details, sizeof f->reply_details, "%.*s", (int)details.len,
             (const char *)details.ptr);
    snprintf(f->reply_body, sizeof f->reply_body, "%.*s", (int)body.len, (const char *)body.ptr);
    f->reply_hdrs[0] = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(f->reply_hdrs);
        snprintf(f->reply_hdrs + l, sizeof f->reply_hdrs - l, "%.*s=%.*s;", (int)h[i].key.len,
                 (const char *)h[i].key.ptr, (int)h[i].value.len, (const char *)h[i].value.ptr);
    }
}

static void f_continue(void *s, pw_stream_type_t d) { ((fake_t *)s)->continues[d]++; }
static void f_close(void *s, pw_stream_type_t d) { ((fake_t *)s)->closes[d]++; }

static const pw_stream_ops_t sops = {
    .map_count = f_count, .map_entry = f_entry, .map_get = f_get, .map_add = f_add,
    .map_replace = f_replace, .map_remove = f_remove, .map_set_all = f_set_all,
    .buffer_size = f_bsize, .buffer_copy = f_bcopy, .buffer_splice = f_bsplice,
    .attr_get = f_attr, .send_local_reply = f_reply, .continue_stream = f_continue,
    .close_stream = f_close,
};

static void hset(fake_t *f, int m, const char *k, const char *v)
{
    f->maps[m].avail = true;
    f_add(f, (pw_map_type_t)m, (pw_slice_t){(const uint8_t *)k, strlen(k)},
          (pw_slice_t){(const uint8_t *)v, strlen(v)});
}

static const char *hget(fake_t *f, int m, const char *k)
{
    int i = find_key(&f->maps[m], (pw_slice_t){(const uint8_t *)k, strlen(k)});
    return i < 0 ? NULL : f->maps[m].v[i];
}

static void bset(fake_t *f, int b, const char *data)
{
    free(f->body[b]);
    f->body[b] = strdup(data);
    f->body_len[b] = strlen(data);
    f->body_avail[b] = true;
}

static void fake_request(fake_t *f, const char *path)
{
    memset(f, 0, sizeof *f);
    hset(f, PW_MAP_REQUEST_HEADERS, ":method", "GET");
    hset(f, PW_MAP_REQUEST_HEADERS, ":path", path);
    hset(f, PW_MAP_REQUEST_HEADERS, ":authority", "example.test");
    f->path = path;
    f->source = "127.0.0.1:4242";
}

static void fake_free(fake_t *f)
{
    for (int m = 0; m < 4; m++)
        while (f->maps[m].n) {
            f->maps[m].n--;
            free(f->maps[m].k[f->maps[m].n]);
            free(f->maps[m].v[f->maps[m].n]);
        }
    for (int b = 0; b < 4; b++)
        free(f->body[b]);
}

/* ---- loading ------------------------------------------------------------------------------- */

static uint8_t *read_file(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.wasm", PW_TEST_PLUGIN_DIR, name);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        t_fail(__FILE__, __LINE__, "cannot open %s (build with `make plugins`)", path);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n);
    T_ASSERT(fread(b, 1, (size_t)n, fp) == (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return b;
}

typedef struct env {
    pw_code_t *code;
    pw_plugin_t *plugin;
    pw_thread_t *thread;
} env_t;

/* Code from bytes, the plugin cfg describes, and a thread to run it on. */
static void env_load(env_t *e, const uint8_t *bytes, size_t len, pw_plugin_config_t *cfg)
{
    pw_error_t err = {0};
    pw_status_t st = pw_code_load(bytes, len, &e->code, &err);
    if (st != PW_OK)
        t_fail(__FILE__, __LINE__, "load %s: %s: %s", cfg->name, pw_status_str(st),
               err.message);
    st = pw_plugin_new(cfg, e->code, &e->plugin, &err);
    if (st != PW_OK)
        t_fail(__FILE__, __LINE__, "plugin %s: %s", cfg->name, err.message);
    e->thread = pw_thread_new(&dops, NULL);
    T_ASSERT(e->thread != NULL);
}

static void env_open_cfg(env_t *e, const char *name, pw_plugin_config_t *cfg)
{
    size_t len;
    uint8_t *bytes = read_file(name, &len);
    if (!cfg->name)
        cfg->name = name;
    env_load(e, bytes, len, cfg);
    free(bytes);
}

static void env_open(env_t *e, const char *name, const char *conf)
{
    pw_plugin_config_t cfg = {
        .root_id = "root",
        .vm_id = "vm",
        .plugin_configuration = {(const uint8_t *)conf, conf ? strlen(conf) : 0},
    };
    env_open_cfg(e, name, &cfg);
}

static void env_close(env_t *e)
{
    pw_thread_free(e->thread);
    pw_plugin_unref(e->plugin);
    pw_code_unref(e->code);
}

/* ---- load-time checks ---------------------------------------------------------------------- */

TEST(load_rejects_a_module_without_abi_marker)
{
    pw_code_t *c = NULL;
    pw_error_t err = {0};
    T_EQ_INT(pw_code_load(noabi_wasm, sizeof noabi_wasm, &c, &err), PW_ERR_ABI);
    T_ASSERT(c == NULL);
    T_ASSERT(strstr(err.message, "ABI version") != NULL);
}

TEST(load_names_an_import_sluice_does_not_provide)
{
    pw_code_t *c = NULL;
    pw_error_t err = {0};
    T_EQ_INT(pw_code_load(badimport_wasm, sizeof badimport_wasm, &c, &err), PW_ERR_LINK);
    T_ASSERT(strstr(err.message, "env.proxy_does_not_exist") != NULL);
}

TEST(load_rejects_an_import_with_the_wrong_type)
{
    pw_code_t *c = NULL;
    pw_error_t err = {0};
    T_EQ_INT(pw_code_load(badtype_wasm, sizeof badtype_wasm, &c, &err), PW_ERR_LINK);
    T_ASSERT(strstr(err.message, "env.proxy_log: type mismatch") != NULL);
}

TEST(load_detects_abi_versions)
{
    pw_code_t *c = NULL;
    pw_error_t err = {0};
    T_EQ_INT(pw_code_load(v010_wasm, sizeof v010_wasm, &c, &err), PW_OK);
    T_EQ_INT(pw_code_abi(c), PW_ABI_0_1_0);
    pw_code_unref(c);
    env_t e;
    env_open(&e, "add_header", NULL);
    T_EQ_INT(pw_code_abi(e.code), PW_ABI_0_2_1);
    env_close(&e);
}

TEST(abi_0_1_0_missing_header_is_ok_and_empty)
{
    /* on_request_headers returns status + 10 * size of get_header("x-missing"): 0 expected. */
    env_t e;
    pw_plugin_config_t cfg = {.name = "v010"};
    env_load(&e, v010_wasm, sizeof v010_wasm, &cfg);
    fake_t f;
    fake_request(&f, "/");
    pw_stream_t *st = pw_stream_new(e.thread, e.plugin, PW_KIND_HTTP, &sops, &f);
    T_EQ_INT(pw_stream_on_request_headers(st, 3, true), PW_CONTINUE);
    pw_stream_free(st);
    env_close(&e);
    fake_free(&f);
}

TEST(runtime_names_accept_envoy_aliases)
{
    bool alias;
    T_ASSERT(pw_runtime_supported("sluice.wasm.runtime.interp", &alias) && !alias);
    T_ASSERT(pw_runtime_supported("envoy.wasm.runtime.v8", &alias) && alias);
    T_ASSERT(!pw_runtime_supported("envoy.wasm.runtime.null", &alias));
}

/* ---- example plugins ---------------------------------------------------------------------- */

TEST(add_header_adds_the_configured_response_header)
{
    env_t e;
    env_open(&e, "add_header", "x-hello: world");
    fake_t f;
    fake_request(&f, "/a");
    pw_stream_t *st = pw_stream_new(e.thread, e.plugin, PW_KIND_HTTP, &sops, &f);
    T_EQ_INT(pw_stream_on_request_headers(st, 3, true), PW_CONTINUE);
    hset(&f, PW_MAP_RESPONSE_HEADERS, ":status", "200");
    T_EQ_INT(pw_stream_on_response_headers(st, 1, true), PW_CONTINUE);
    T_EQ_STR(hget(&f, PW_MAP_RESPONSE_HEADERS, "x-hello"), "world");
    pw_stream_free(st);
    env_close(&e);
    fake_free(&f);
}

TEST(add_header_rejects_a_bad_configuration)
{
    env_t e;
    env_open(&e, "add_header", "no colon here");
    pw_error_t err = {0};
    T_EQ_INT(pw_thread_prepare(e.thread, e.plugin, &err), PW_ERR_CONFIGURE);
    T_ASSERT(strstr(err.message, "proxy_on_configure returned false") != NULL);
    T_ASSERT(strstr(logbuf, "name: value") != NULL);
    env_close(&e);
}

TEST(auth_header_replies_403_without_the_header)
{
    env_t e;
    env_open(&e, "auth_header", "x-token: s3cret");
    fake_t f;
    fake_request(&f, "/");
    pw_stream_t *st = pw_stream_new(e.thread, e.plugin, PW_KIND_HTTP, &sops, &f);
    T_EQ_INT(pw_stream_on_request_headers(st, 3, true), PW_STOP_ALL_WATERMARK);
    T_EQ_INT(f.replies, 1);
    T_EQ_INT(f.reply_status, 403);
    T_EQ_STR(f.reply_body, "forbidden\n");
    T_EQ_STR(f.reply_details, "wasm_auth_header_denied");
    T_EQ_STR(f.reply_hdrs, "content-type=text/plain;");
    pw_stream_free(st);
    fake_free(&f);

    fake_request(&f, "/");
    hset(&f, PW_MAP_REQUEST_HEADERS, "x-token", "s3cret");
    st = pw_stream_new(e.thread, e.plugin, PW_KIND_HTTP, &sops, &f);
    T_EQ_INT(pw_stream_on_request_headers(st, 4, true), PW_CONTINUE);
    T_EQ_INT(f.replies, 0);
    pw_stream_free(st);
    fake_free(&f);
    env_close(&e);
}

TEST(body_rewrite_buffers_and_rewrites_the_response)
{
    env_t e;
    env_open(&e, "body_rewrite", "cat=>dog");
    fake_t f;
    fake_request(&f, "/");
    pw_stream_t *st = pw_stream_new(e.thread, e.plugin, PW_KIND_HTTP, &sops, &f);
    T_EQ_INT(pw_stream_on_request_headers(st, 3, true), PW_CONTINUE);
    hset(&f, PW_MAP_RESPONSE_HEADERS, ":status", "200");
    hset(&f, PW_MAP_RESPONSE_HEADERS, "content-length", "17");
    T_EQ_INT(pw_stream_on_response_headers(st, 2, false), PW_CONTINUE);
    T_ASSERT(hget(&f, PW_MAP_RESPONSE_HEADERS, "content-length") == NULL);
    bset(&f, PW_BUFFER_RESPONSE_BODY, "a cat and ");
    T_EQ_INT(pw_stream_on_response_body(st, 10, false), PW_STOP_AND_BUFFER);
    bset(&f, PW_BUFFER_RESPONSE_BODY, "a cat and a cat.");
    T_EQ_INT(pw_stream_on_response_body(st, 16, true), PW_CONTINUE);
    T_EQ_STR(f.body[PW_BUFFER_RESPONSE_BODY], "a dog and a dog.");
    pw_stream_free(st);
    env_close(&e);
    fake_free(&f);
}

TEST(rewrite_changes_path_prefix_and_sets_a_header)
{
    env_t e;
    env_open(&e, "rewrite", "path /old /new\nheader x-rewritten yes");
    fake_t f;
    fake_request(&f, "/old/page?q=1");
    pw_stream_t *st = pw_stream_new(e.thread, e.plugin, PW_KIND_HTTP, &sops, &f);
    T_EQ_INT(pw_stream_on_request_headers(st, 3, true), PW_CONTINUE);
    T_EQ_STR(hget(&f, PW_MAP_REQUEST_HEADERS, ":path"), "/new/page?q=1");
    T_EQ_STR(hget(&f, PW_MAP_REQUEST_HEADERS, "x-original-path"), "/old/page?q=1");
    T_EQ_STR(hget(&f, PW_MAP_REQUEST_HEADERS, "x-rewritten"), "yes");
    pw_stream_free(st);
    env_close(&e);
    fake_free(&f);
}

TEST(props_to_headers_reports_properties)
{
    env_t e;
    env_open(&e, "props_to_headers", NULL);
    fake_t f;
    fake_request(&f, "/p?x=1");
    pw_stream_t *st = pw_stream_new(e.thread, e.plugin, PW_KIND_HTTP, &sops, &f);
    T_EQ_INT(pw_stream_on_request_headers(st, 3, true), PW_CONTINUE);
    hset(&f, PW_MAP_RESPONSE_HEADERS, ":status", "200");
    T_EQ_INT(pw_stream_on_response_headers(st, 1, true), PW_CONTINUE);
    T_EQ_STR(hget(&f, PW_MAP_RESPONSE_HEADERS, "x-prop-request-path"), "/p?x=1");
    T_EQ_STR(hget(&f, PW_MAP_RESPONSE_HEADERS, "x-prop-source-address"), "127.0.0.1:4242");
    T_EQ_STR(hget(&f, PW_MAP_RESPONSE_HEADERS, "x-prop-plugin-name"), "props_to_headers");
    T_EQ_STR(hget(&f, PW_MAP_RESPONSE_HEADERS, "x-prop-plugin-root-id"), "root");
    pw_stream_free(st);
    env_close(&e);
    fake_free(&f);
}

TEST(tcp_guard_counts_bytes_and_closes_on_the_banned_word)
{
    env_t e;
    env_open(&e, "tcp_guard", "forbidden");
    fake_t f;
    memset(&f, 0, sizeof f);
    pw_stream_t *st = pw_stream_new(e.thread, e.plugin, PW_KIND_TCP, &sops, &f);
    T_EQ_INT(pw_stream_on_new_connection(st), PW_CONTINUE);
    bset(&f, PW_BUFFER_DOWNSTREAM_DATA, "hello ");
    T_EQ_INT(pw_stream_on_downstream_data(st, 6, false), PW_CONTINUE);
    bset(&f, PW_BUFFER_UPSTREAM_DATA, "hi!");
    T_EQ_INT(pw_stream_on_upstream_data(st, 3, false), PW_CONTINUE);
    T_EQ_INT(f.closes[PW_STREAM_DOWNSTREAM], 0);
    bset(&f, PW_BUFFER_DOWNSTREAM_DATA, "a forbidden thing");
    T_EQ_INT(pw_stream_on_downstream_data(st, 17, false), PW_STOP_ITERATION);
    T_EQ_INT(f.closes[PW_STREAM_DOWNSTREAM], 1);
    pw_stream_on_downstream_close(st, PW_PEER_LOCAL);
    pw_stream_free(st);
    T_ASSERT(strstr(logbuf, "banned word seen") != NULL);
    T_ASSERT(strstr(logbuf, "23 bytes down, 3 bytes up") != NULL);
    env_close(&e);
    fake_free(&f);
}

/* ---- lifecycles ----------------------------------------------------------------------------- */

static void strip_ids(char *s)
{
    /* "2|cb request_headers 3" -> "request_headers" per line, joined with ',' */
    char out[4096] = "";
    for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
        char *cb = strstr(line, "cb ");
        if (!cb)
            continue;
        cb += 3;
        char *sp = strrchr(cb, ' ');
        if (sp)
            *sp = 0;
        if (out[0])
            strcat(out, ",");
        strcat(out, cb);
    }
    strcpy(s, out);
}

TEST(http_lifecycle_follows_envoy_order)
{
    env_t e;
    env_open(&e, "hostcalls", "lifecycle");
    fake_t f;
    fake_request(&f, "/");
    pw_stream_t *st = pw_stream_new(e.thread, e.plugin, PW_KIND_HTTP, &sops, &f);
    T_EQ_INT(pw_stream_on_request_headers(st, 3, false), PW_CONTINUE);
    bset(&f, PW_BUFFER_REQUEST_BODY, "x");
    T_EQ_INT(pw_stream_on_request_body(st, 1, true), PW_CONTINUE);
    hset(&f, PW_MAP_RESPONSE_HEADERS, ":status", "200");
    T_EQ_INT(pw_stream_on_response_headers(st, 1, false), PW_CONTINUE);
    T_EQ_INT(pw_stream_on_response_body(st, 0, false), PW_CONTINUE);
    T_EQ_INT(pw_stream_on_response_trailers(st, 0), PW_CONTINUE);
    pw_stream_on_log(st);
    pw_stream_free(st);
    strip_ids(logbuf);
    T_EQ_STR(logbuf, "configure,create,request_headers,request_body eos,"
                     "response_headers,response_body,response_trailers,log,done,delete");
    env_close(&e);
    fake_free(&f);
}

TEST(tcp_lifecycle_is_done_log_delete)
{
    env_t e;
    env_open(&e, "hostcalls", "lifecycle");
    fake_t f;
    memset(&f, 0, sizeof f);
    pw_stream_t *st = pw_stream_new(e.thread, e.plugin, PW_KIND_TCP, &sops, &f);
    pw_stream_on_new_connection(st);
    bset(&f, PW_BUFFER_DOWNSTREAM_DATA, "x");
    pw_stream_on_downstream_data(st, 1, false);
    pw_stream_on_upstream_data(st, 0, true);
    pw_stream_on_upstream_close(st, PW_PEER_UNKNOWN);
    pw_stream_on_downstream_close(st, PW_PEER_REMOTE);
    pw_stream_free(st);
    strip_ids(logbuf);
    T_EQ_STR(logbuf, "configure,create,new_connection,downstream_data,"
                     "upstream_data eos,upstream_close,downstream_close,done,log,delete");
    env_close(&e);
    fake_free(&f);
}

TEST(stream_ended_early_still_gets_log_done_delete)
{
    env_t e;
    env_open(&e, "hostcalls", "lifecycle");
    fake_t f;
    fake_request(&f, "/");
    pw_stream_t *st = pw_stream_new(e.thread, e.plugin, PW_KIND_HTTP, &sops, &f);
    pw_stream_on_request_headers(st, 3, false);
    pw_stream_free(st); /* client reset */
    strip_ids(logbuf);
    T_EQ_STR(logbuf, "configure,create,request_headers,log,done,delete");
    env_close(&e);
    fake_free(&f);
}

/* ---- actions ----------------------------------------------------------------------------------- */

static pw_action_t one_request(const char *mode, bool allow_stop, fake_t *f, env_t *e)
{
    pw_plugin_config_t cfg = {
        .root_id = "root",
        .plugin_configuration = {(const uint8_t *)mode, strlen(mode)},
        .allow_on_headers_stop_iteration = allow_stop,
    };
    env_open_cfg(e, "hostcalls", &cfg);
    fake_request(f, "/");
    pw_stream_t *st = pw_stream_new(e->thread, e->plugin, PW_KIND_HTTP, &sops, f);
    pw_action_t a = pw_stream_on_request_headers(st, 3, true);
    pw_stream_free(st);
    return a;
}

TEST(headers_pause_becomes_stop_all_unless_allowed)
{
    env_t e;
    fake_t f;
    T_EQ_INT(one_request("pause", false, &f, &e), PW_STOP_ALL_WATERMARK);
    env_close(&e);
    fake_free(&f);
    T_EQ_INT(one_request("pause", true, &f, &e), PW_STOP_ITERATION);
    env_close(&e);
    fake_free(&f);
}

TEST(local_reply_is_deferred_and_forces_stop)
{
    env_t e;
    fake_t f;
    T_EQ_INT(one_request("local_reply", false, &f, &e), PW_STOP_ALL_WATERMARK);
    T_EQ_INT(f.replies, 1);
    T_EQ_INT(f.reply_status, 418);
    T_EQ_STR(f.reply_details, "i_am_a_teapot");
    T_EQ_STR(f.reply_body, "short and stout");
    T_EQ_STR(f.reply_hdrs, "x-reply=yes;");
    env_close(&e);
    fake_free(&f);
}

TEST(continue_of_the_running_direction_becomes_the_action)
{
    env_t e;
    fake_t f;
    T_EQ_INT(one_request("continue_in_headers", false, &f, &e), PW_CONTINUE);
    T_EQ_INT(f.continues[PW_STREAM_REQUEST], 0);
    env_close(&e);
    fake_free(&f);
}

TEST(header_pairs_round_trip)
{
    env_t e;
    fake_t f;
    T_EQ_INT(one_request("headers", false, &f, &e), PW_CONTINUE);
    T_EQ_STR(hget(&f, PW_MAP_REQUEST_HEADERS, "x-count"), "3"); /* lower-cased by the host */
    T_EQ_STR(hget(&f, PW_MAP_REQUEST_HEADERS, ":path"), "/");
    T_EQ_INT(f.maps[PW_MAP_REQUEST_HEADERS].n, 4);
    env_close(&e);
    fake_free(&f);
}

TEST(set_property_is_readable_on_the_same_stream)
{
    env_t e;
    fake_t f;
    T_EQ_INT(one_request("props", false, &f, &e), PW_CONTINUE);
    T_EQ_STR(hget(&f, PW_MAP_REQUEST_HEADERS, "x-state"), "value-1");
    T_EQ_STR(hget(&f, PW_MAP_REQUEST_HEADERS, "x-prop-port"), "4242"); /* int: 8 bytes LE */
    T_EQ_STR(hget(&f, PW_MAP_REQUEST_HEADERS, "x-prop-missing"), "1");  /* NOT_FOUND */
    env_close(&e);
    fake_free(&f);
}

TEST(header_names_from_the_plugin_are_lower_cased)
{
    env_t e;
    env_open(&e, "hostcalls", "mixed_case_keys");
    fake_t f;
    fake_request(&f, "/mixed");
    hset(&f, PW_MAP_REQUEST_HEADERS, "x-replaced", "old");
    hset(&f, PW_MAP_REQUEST_HEADERS, "x-gone", "1");
    pw_stream_t *st = pw_stream_new(e.thread, e.plugin, PW_KIND_HTTP, &sops, &f);
    T_EQ_INT(pw_stream_on_request_headers(st, 5, true), PW_CONTINUE);
    T_EQ_STR(hget(&f, PW_MAP_REQUEST_HEADERS, "x-got-path"), "/mixed");
    T_EQ_STR(hget(&f, PW_MAP_REQUEST_HEADERS, "x-replaced"), "new");
    T_ASSERT(hget(&f, PW_MAP_REQUEST_HEADERS, "x-gone") == NULL);
    T_ASSERT(hget(&f, PW_MAP_REQUEST_HEADERS, "X-Got-Path") == NULL);
    pw_stream_free(st);
    env_close(&e);
    fake_free(&f);
}

/* The word-at-a-time test behind the key lower-casing agrees with a byte-by-byte one: every
 * length up to 40 (each of its load patterns), every position, every byte value, on a
 * background of lower-case letters and on one of bytes >= 0x80 (whose low 7 bits are capitals
 * or not). */
TEST(capital_detection_matches_a_byte_by_byte_check)
{
    uint8_t k[40];
    const uint8_t grounds[3] = {'a', 0x80 | 'A', 0xff};
    for (int g = 0; g < 3; g++)
        for (uint32_t len = 0; len <= sizeof k; len++)
            for (uint32_t pos = 0; pos < (len ? len : 1); pos++)
                for (int b = 0; b < 256; b++) {
                    memset(k, grounds[g], sizeof k);
                    if (len)
                        k[pos] = (uint8_t)b;
                    bool want = false;
                    for (uint32_t i = 0; i < len; i++)
                        want |= k[i] >= 'A' && k[i] <= 'Z';
                    if (pw__has_capital(k, len) != want)
                        t_fail(__FILE__, __LINE__, "ground %#x len %u pos %u byte %#x: got %d",
                               grounds[g], len, pos, b, !want);
                }
}

TEST(request_header_properties_join_duplicates)
{
    env_t e;
    env_open(&e, "hostcalls", "props");
    fake_t f;
    fake_request(&f, "/");
    hset(&f, PW_MAP_REQUEST_HEADERS, "x-id", "a");
    hset(&f, PW_MAP_REQUEST_HEADERS, "x-id", "b");
    pw_stream_t *st = pw_stream_new(e.thread, e.plugin, PW_KIND_HTTP, &sops, &f);
    T_EQ_INT(pw_stream_on_request_headers(st, 5, true), PW_CONTINUE);
    T_EQ_STR(hget(&f, PW_MAP_REQUEST_HEADERS, "x-prop-id"), "a,b");
    pw_stream_free(st);
    env_close(&e);
    fake_free(&f);
}

TEST(buffer_prepend_and_append)
{
    env_t e;
    pw_plugin_config_t cfg = {.plugin_configuration = {(const uint8_t *)"buffer", 6}};
    env_open_cfg(&e, "hostcalls", &cfg);
    fake_t f;
    fake_request(&f, "/");
    pw_stream_t *st = pw_stream_new(e.thread, e.plugin, PW_KIND_HTTP, &sops, &f);
    T_EQ_INT(pw_stream_on_request_headers(st, 3, false), PW_CONTINUE);
    bset(&f, PW_BUFFER_REQUEST_BODY, "ab");
    T_EQ_INT(pw_stream_on_request_body(st, 2, false), PW_STOP_AND_BUFFER);
    bset(&f, PW_BUFFER_REQUEST_BODY, "abc");
    T_EQ_INT(pw_stream_on_request_body(st, 3, true), PW_CONTINUE);
    T_EQ_STR(f.body[PW_BUFFER_REQUEST_BODY], "<abc>");
    T_ASSERT(strstr(logbuf, "body <abc>") != NULL);
    pw_stream_free(st);
    env_close(&e);
    fake_free(&f);
}

TEST(every_hostcall_rejects_bad_pointers)
{
    env_t e;
    fake_t f;
    T_EQ_INT(one_request("badptr", false, &f, &e), PW_CONTINUE);
    T_EQ_STR(hget(&f, PW_MAP_REQUEST_HEADERS, "x-badptr"), "6,6,6,6,6,6,6,6");
    env_close(&e);
    fake_free(&f);
}

TEST(http_call_without_the_proxy_op_is_unimplemented_and_the_rest_works)
{
    env_t e;
    fake_t f;
    T_EQ_INT(one_request("unimplemented", false, &f, &e), PW_CONTINUE);
    /* http_call: UNIMPLEMENTED (no http_call op); set/get shared data and define_metric: OK. */
    T_EQ_STR(hget(&f, PW_MAP_REQUEST_HEADERS, "x-unimplemented"), "12,0,0,0");
    env_close(&e);
    fake_free(&f);
}

TEST(memory_limit_caps_growth)
{
    env_t e;
    pw_plugin_config_t cfg = {.plugin_configuration = {(const uint8_t *)"grow", 4},
                              .max_memory_bytes = 4u << 20};
    env_open_cfg(&e, "hostcalls", &cfg);
    fake_t f;
    fake_request(&f, "/");
    pw_stream_t *st = pw_stream_new(e.thread, e.plugin, PW_KIND_HTTP, &sops, &f);
    T_EQ_INT(pw_stream_on_request_headers(st, 3, true), PW_CONTINUE);
    const char *g = hget(&f, PW_MAP_REQUEST_HEADERS, "x-grown-pages");
    T_ASSERT(g != NULL);
    T_ASSERT(atoi(g) < 64); /* 4 MiB = 64 pages in all, some already in use */
    pw_stream_free(st);
    env_close(&e);
    fake_free(&f);
}

TEST(sdk_allocator_survives_stress_under_the_memory_cap)
{
    env_t e;
    pw_plugin_config_t cfg = {.plugin_configuration = {(const uint8_t *)"alloc_stress", 12},
                              .max_memory_bytes = 4u << 20,
                              .deadline_ms = 20000};
    env_open_cfg(&e, "hostcalls", &cfg);
    fake_t f;
    fake_request(&f, "/");
    pw_stream_t *st = pw_stream_new(e.thread, e.plugin, PW_KIND_HTTP, &sops, &f);
    T_EQ_INT(pw_stream_on_request_headers(st, 3, true), PW_CONTINUE);
    T_ASSERT(!pw_stream_failed(st)); /* malloc answered NULL at the cap; nothing trapped */
    const char *r = hget(&f, PW_MAP_REQUEST_HEADERS, "x-alloc");
    T_ASSERT(r != NULL);
    int nulls = -1, pages = -1;
    char word[64] = "";
    T_EQ_INT(sscanf(r, "%63s nulls=%d pages=%d", word, &nulls, &pages), 3);
    T_EQ_STR(word, "ok");
    T_ASSERT(nulls >= 1);
    T_ASSERT(pages > 0 && pages <= 64); /* 4 MiB */
    pw_stream_free(st);
    env_close(&e);
    fake_free(&f);
}

/* ---- failures ------------------------------------------------------------------------------- */

TEST(trap_fails_the_stream_with_503_and_replaces_the_vm)
{
    env_t e;
    env_open(&e, "hostcalls", "trap");
    fake_t f;
    fake_request(&f, "/");
    pw_stream_t *st = pw_stream_new(e.thread, e.plugin, PW_KIND_HTTP, &sops, &f);
    T_EQ_INT(pw_stream_on_request_headers(st, 3, true), PW_STOP_ALL_WATERMARK);
    T_ASSERT(pw_stream_failed(st));
    T_EQ_INT(f.replies, 1);
    T_EQ_INT(f.reply_status, 503);
    T_EQ_STR(f.reply_details, "wasm_fail_stream");
    T_ASSERT(strstr(logbuf, "proxy_on_request_headers failed") != NULL);
    /* later events of the failed stream: no second reply */
    T_EQ_INT(pw_stream_on_response_headers(st, 0, true), PW_STOP_ALL_WATERMARK);
    T_EQ_INT(f.replies, 1);
    pw_stream_free(st);
    pw_thread_stats_t s;
    pw_thread_stats(e.thread, &s);
    T_EQ_INT(s.vms_broken, 1);
    fake_free(&f);
    /* the next stream runs on a fresh replica */
    fake_request(&f, "/");
    st = pw_stream_new(e.thread, e.plugin, PW_KIND_HTTP, &sops, &f);
    pw_thread_stats(e.thread, &s);
    T_EQ_INT(s.vms_created, 2);
    T_EQ_INT(s.vms_live, 1);
    pw_stream_free(st);
    env_close(&e);
    fake_free(&f);
}

TEST(fail_open_continues_without_the_plugin)
{
    env_t e;
    pw_plugin_config_t cfg = {.plugin_configuration = {(const uint8_t *)"trap", 4},
                              .fail_open = true};
    env_open_cfg(&e, "hostcalls", &cfg);
    fake_t f;
    fake_request(&f, "/");
    pw_stream_t *st = pw_stream_new(e.thread, e.plugin, PW_KIND_HTTP, &sops, &f);
    T_EQ_INT(pw_stream_on_request_headers(st, 3, true), PW_CONTINUE);
    T_EQ_INT(f.replies, 0);
    T_EQ_INT(pw_stream_on_response_headers(st, 0, true), PW_CONTINUE);
    pw_stream_free(st);
    env_close(&e);
    fake_free(&f);
}

TEST(infinite_loop_hits_the_deadline)
{
    env_t e;
    pw_plugin_config_t cfg = {.plugin_configuration = {(const uint8_t *)"loop", 4},
                              .deadline_ms = 50};
    env_open_cfg(&e, "hostcalls", &cfg);
    fake_t f;
    fake_request(&f, "/");
    pw_stream_t *st = pw_stream_new(e.thread, e.plugin, PW_KIND_HTTP, &sops, &f);
    uint64_t t0 = wa_now_ns();
    T_EQ_INT(pw_stream_on_request_headers(st, 3, true), PW_STOP_ALL_WATERMARK);
    uint64_t ms = (wa_now_ns() - t0) / 1000000;
    T_ASSERT(ms >= 40 && ms < 2000);
    T_EQ_INT(f.replies, 1);
    T_EQ_INT(f.reply_status, 503);
    pw_stream_free(st);
    env_close(&e);
    fake_free(&f);
}

static void count_clock(void *ud) { (*(int *)ud)++; }

static const pw_dispatch_ops_t clock_ops = {.log = cap_log, .clock_moved = count_clock};

/* The proxy hears of a callback that ran long (its loop's cached time is stale), and only of
 * such callbacks. */
TEST(a_long_callback_reports_the_clock_moved_and_a_short_one_does_not)
{
    const char *modes[] = {"headers", "loop"};
    for (int m = 0; m < 2; m++) {
        env_t e;
        pw_plugin_config_t cfg = {
            .plugin_configuration = {(const uint8_t *)modes[m], strlen(modes[m])},
            .deadline_ms = 50};
        env_open_cfg(&e, "hostcalls", &cfg);
        int moved = 0;
        pw_thread_free(e.thread);
        e.thread = pw_thread_new(&clock_ops, &moved);
        fake_t f;
        fake_request(&f, "/");
        pw_stream_t *st = pw_stream_new(e.thread, e.plugin, PW_KIND_HTTP, &sops, &f);
        T_EQ_INT(moved, 0); /* start-up and context creation are short */
        pw_action_t a = pw_stream_on_request_headers(st, 3, true);
        if (m == 0) {
            T_EQ_INT(a, PW_CONTINUE);
            T_EQ_INT(moved, 0);
        } else { /* ran until its 50 ms deadline */
            T_EQ_INT(a, PW_STOP_ALL_WATERMARK);
            T_EQ_INT(moved, 1);
        }
        pw_stream_free(st);
        env_close(&e);
        fake_free(&f);
    }
}

TEST(rejected_configuration_fails_streams_closed)
{
    env_t e;
    env_open(&e, "hostcalls", "reject_configure");
    pw_error_t err = {0};
    T_EQ_INT(pw_thread_prepare(e.thread, e.plugin, &err), PW_ERR_CONFIGURE);
    fake_t f;
    fake_request(&f, "/");
    pw_stream_t *st = pw_stream_new(e.thread, e.plugin, PW_KIND_HTTP, &sops, &f);
    T_ASSERT(pw_stream_failed(st));
    T_EQ_INT(pw_stream_on_request_headers(st, 3, true), PW_STOP_ALL_WATERMARK);
    T_EQ_INT(f.reply_status, 503);
    pw_stream_free(st);
    env_close(&e);
    fake_free(&f);
}

TEST(trap_in_configure_is_reported)
{
    env_t e;
    env_open(&e, "hostcalls", "trap_on_configure");
    pw_error_t err = {0};
    T_EQ_INT(pw_thread_prepare(e.thread, e.plugin, &err), PW_ERR_TRAP);
    T_ASSERT(strstr(err.message, "proxy_on_configure trapped") != NULL);
    env_close(&e);
}

TEST(plugins_with_the_same_vm_key_share_one_replica)
{
    env_t e;
    env_open(&e, "add_header", "x-a: 1");
    pw_plugin_config_t cfg = {.name = "second", .root_id = "other", .vm_id = "vm",
                              .plugin_configuration = {(const uint8_t *)"x-b: 2", 6}};
    pw_plugin_t *p2;
    pw_error_t err;
    T_EQ_INT(pw_plugin_new(&cfg, e.code, &p2, &err), PW_OK);
    T_EQ_INT(pw_thread_prepare(e.thread, e.plugin, &err), PW_OK);
    T_EQ_INT(pw_thread_prepare(e.thread, p2, &err), PW_OK);
    pw_thread_stats_t s;
    pw_thread_stats(e.thread, &s);
    T_EQ_INT(s.vms_created, 1);
    fake_t f;
    fake_request(&f, "/");
    pw_stream_t *a = pw_stream_new(e.thread, e.plugin, PW_KIND_HTTP, &sops, &f);
    pw_stream_t *b = pw_stream_new(e.thread, p2, PW_KIND_HTTP, &sops, &f);
    hset(&f, PW_MAP_RESPONSE_HEADERS, ":status", "200");
    pw_stream_on_response_headers(a, 1, true);
    pw_stream_on_response_headers(b, 2, true);
    T_EQ_STR(hget(&f, PW_MAP_RESPONSE_HEADERS, "x-a"), "1");
    T_EQ_STR(hget(&f, PW_MAP_RESPONSE_HEADERS, "x-b"), "2");
    T_ASSERT(pw_stream_context_id(a) != pw_stream_context_id(b));
    pw_stream_free(a);
    pw_stream_free(b);
    pw_plugin_unref(p2);
    env_close(&e);
    fake_free(&f);
}

/* Context ids are never searched for until the counter wraps; after it they skip 0 and every
 * id still alive (the root's, and a stream that outlived the wrap). */
TEST(context_ids_after_a_wrap_skip_live_ones)
{
    env_t e;
    env_open(&e, "add_header", "x-a: 1");
    fake_t f;
    fake_request(&f, "/");
    hset(&f, PW_MAP_RESPONSE_HEADERS, ":status", "200");
    pw_stream_t *old = pw_stream_new(e.thread, e.plugin, PW_KIND_HTTP, &sops, &f);
    pw_stream_on_response_headers(old, 1, true);
    uint32_t old_id = pw_stream_context_id(old);
    T_ASSERT(old_id != 0);
    pw_vm_t *vm = e.thread->vms;
    T_ASSERT(vm != NULL);
    vm->next_id = UINT32_MAX - 1;
    pw_stream_t *last = pw_stream_new(e.thread, e.plugin, PW_KIND_HTTP, &sops, &f);
    pw_stream_on_response_headers(last, 1, true);
    T_EQ_INT(pw_stream_context_id(last), UINT32_MAX);
    uint32_t seen[8];
    pw_stream_t *s[8];
    for (int i = 0; i < 8; i++) { /* ids 1.. again: none may be the root's or a live stream's */
        s[i] = pw_stream_new(e.thread, e.plugin, PW_KIND_HTTP, &sops, &f);
        pw_stream_on_response_headers(s[i], 1, true);
        seen[i] = pw_stream_context_id(s[i]);
        T_ASSERT(seen[i] != 0 && seen[i] != old_id && seen[i] != UINT32_MAX);
        T_ASSERT(pw__ctx_find(vm, seen[i]) == &s[i]->ctx);
        for (int j = 0; j < i; j++)
            T_ASSERT(seen[j] != seen[i]);
        pw_root_t *r = vm->roots;
        for (; r; r = r->next_root)
            T_ASSERT(seen[i] != r->ctx.id);
    }
    T_ASSERT(seen[0] < old_id + 8); /* counting went on from the bottom */
    for (int i = 0; i < 8; i++)
        pw_stream_free(s[i]);
    pw_stream_free(last);
    pw_stream_free(old);
    env_close(&e);
    fake_free(&f);
}

TEST(wasi_stdout_is_the_plugin_log_and_env_is_the_vms)
{
    env_t e;
    pw_env_var_t env[] = {{"MODE", "prod"}};
    pw_plugin_config_t cfg = {.plugin_configuration = {(const uint8_t *)"wasi", 4},
                              .env = env, .n_env = 1};
    env_open_cfg(&e, "hostcalls", &cfg);
    fake_t f;
    fake_request(&f, "/");
    pw_stream_t *st = pw_stream_new(e.thread, e.plugin, PW_KIND_HTTP, &sops, &f);
    T_EQ_INT(pw_stream_on_request_headers(st, 3, true), PW_CONTINUE);
    T_EQ_STR(hget(&f, PW_MAP_REQUEST_HEADERS, "x-env-mode"), "prod");
    T_ASSERT(strstr(logbuf, "2|hello from printf, MODE=prod\n") != NULL); /* INFO, no '\n\n' */
    pw_stream_free(st);
    env_close(&e);
    fake_free(&f);
}

TEST(continue_of_another_direction_reaches_the_proxy_after_the_callback)
{
    env_t e;
    env_open(&e, "hostcalls", "pause_request_resume_in_response");
    fake_t f;
    fake_request(&f, "/");
    pw_stream_t *st = pw_stream_new(e.thread, e.plugin, PW_KIND_HTTP, &sops, &f);
    T_EQ_INT(pw_stream_on_request_headers(st, 3, true), PW_STOP_ALL_WATERMARK);
    T_EQ_INT(f.continues[PW_STREAM_REQUEST], 0);
    hset(&f, PW_MAP_RESPONSE_HEADERS, ":status", "200");
    T_EQ_INT(pw_stream_on_response_headers(st, 1, true), PW_CONTINUE);
    T_EQ_INT(f.continues[PW_STREAM_REQUEST], 1);
    T_EQ_INT(f.continues[PW_STREAM_RESPONSE], 0);
    pw_stream_free(st);
    env_close(&e);
    fake_free(&f);
}

TEST(tcp_trap_closes_the_connection)
{
    env_t e;
    env_open(&e, "hostcalls", "trap");
    fake_t f;
    memset(&f, 0, sizeof f);
    pw_stream_t *st = pw_stream_new(e.thread, e.plugin, PW_KIND_TCP, &sops, &f);
    T_EQ_INT(pw_stream_on_new_connection(st), PW_CONTINUE);
    bset(&f, PW_BUFFER_DOWNSTREAM_DATA, "x");
    T_EQ_INT(pw_stream_on_downstream_data(st, 1, false), PW_STOP_ITERATION);
    T_EQ_INT(f.closes[PW_STREAM_DOWNSTREAM], 1);
    T_EQ_INT(f.replies, 0);
    T_ASSERT(strstr(logbuf, "proxy_on_downstream_data failed") != NULL);
    pw_stream_free(st);
    env_close(&e);
    fake_free(&f);
}

TEST(a_looping_plugin_leaves_other_plugins_on_the_thread_working)
{
    env_t loop, ok;
    pw_plugin_config_t cfg = {.plugin_configuration = {(const uint8_t *)"loop", 4},
                              .deadline_ms = 20};
    env_open_cfg(&loop, "hostcalls", &cfg);
    env_open(&ok, "add_header", "x-still: alive");
    fake_t f;
    for (int i = 0; i < 3; i++) {
        fake_request(&f, "/");
        pw_stream_t *st = pw_stream_new(loop.thread, loop.plugin, PW_KIND_HTTP, &sops, &f);
        T_EQ_INT(pw_stream_on_request_headers(st, 3, true), PW_STOP_ALL_WATERMARK);
        T_EQ_INT(f.reply_status, 503);
        pw_stream_free(st);
        fake_free(&f);
        fake_request(&f, "/");
        st = pw_stream_new(loop.thread, ok.plugin, PW_KIND_HTTP, &sops, &f);
        hset(&f, PW_MAP_RESPONSE_HEADERS, ":status", "200");
        T_EQ_INT(pw_stream_on_response_headers(st, 1, true), PW_CONTINUE);
        T_EQ_STR(hget(&f, PW_MAP_RESPONSE_HEADERS, "x-still"), "alive");
        pw_stream_free(st);
        fake_free(&f);
    }
    pw_thread_stats_t s;
    pw_thread_stats(loop.thread, &s);
    T_EQ_INT(s.vms_broken, 3);
    T_EQ_INT(s.streams_live, 0);
    env_close(&ok);
    env_close(&loop);
}

/* ---- start-up and allocator edge cases (hand-written modules) ------------------------------ */

static pw_status_t prepare_bytes(const unsigned char *b, size_t n, pw_error_t *err)
{
    pw_code_t *c = NULL;
    pw_status_t st = pw_code_load(b, n, &c, err);
    if (st != PW_OK)
        return st;
    pw_plugin_config_t cfg = {.name = "wat"};
    pw_plugin_t *p;
    T_EQ_INT(pw_plugin_new(&cfg, c, &p, err), PW_OK);
    pw_thread_t *t = pw_thread_new(&dops, NULL);
    st = pw_thread_prepare(t, p, err);
    pw_thread_free(t);
    pw_plugin_unref(p);
    pw_code_unref(c);
    return st;
}

TEST(proc_exit_0_in_start_completes_start_up)
{
    pw_error_t err = {0};
    /* proxy_on_configure returns whether _start ran: true */
    T_EQ_INT(prepare_bytes(startexit0_wasm, sizeof startexit0_wasm, &err), PW_OK);
    T_ASSERT(strstr(logbuf, "proc_exit(0)") != NULL);
}

TEST(proc_exit_nonzero_in_start_fails_start_up)
{
    pw_error_t err = {0};
    T_EQ_INT(prepare_bytes(startexit3_wasm, sizeof startexit3_wasm, &err), PW_ERR_START);
    T_ASSERT(strstr(err.message, "proc_exit(3)") != NULL);
}

TEST(start_up_may_only_use_restricted_hostcalls)
{
    pw_error_t err = {0};
    T_EQ_INT(prepare_bytes(restricted_wasm, sizeof restricted_wasm, &err), PW_ERR_START);
    T_ASSERT(strstr(err.message, "restricted_callback") != NULL);
}

/* (import "wasi_snapshot_preview1" "fd_write" (func (param i32) (result i32))) in an
 * otherwise loadable module (memory, proxy_abi_version_0_2_1, malloc). */
TEST(load_rejects_a_wasi_import_with_the_wrong_type)
{
    pw_code_t *c = NULL;
    pw_error_t err = {0};
    T_EQ_INT(pw_code_load(wasibadtype_wasm, sizeof wasibadtype_wasm, &c, &err), PW_ERR_LINK);
    T_ASSERT(strstr(err.message, "wasi_snapshot_preview1.fd_write: type mismatch") != NULL);
}

/* (import "wasi_unstable" "no_such_call" (func (param i32) (result i32))), same module. */
TEST(load_rejects_a_wasi_import_that_src_wasi_does_not_define)
{
    pw_code_t *c = NULL;
    pw_error_t err = {0};
    T_EQ_INT(pw_code_load(wasimissing_wasm, sizeof wasimissing_wasm, &c, &err), PW_ERR_LINK);
    T_ASSERT(strstr(err.message, "wasi_unstable.no_such_call: not provided") != NULL);
}

/* _initialize writes "start\n" to fd 1 through an iovec at 16, then calls fd_read:
 *   (func (export "_initialize")
 *     (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 8)))
 *     (drop (call $fd_read (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 8)))) */
TEST(start_up_may_write_to_stdout_but_not_read_stdin)
{
    pw_error_t err = {0};
    logbuf[0] = 0;
    T_EQ_INT(prepare_bytes(wasistart_wasm, sizeof wasistart_wasm, &err), PW_ERR_START);
    T_ASSERT(strstr(logbuf, "2|start\n") != NULL); /* INFO, trailing newline dropped */
    T_ASSERT(strstr(err.message, "restricted_callback: fd_read is not allowed during start-up"));
}

TEST(load_rejects_a_callback_with_a_bad_signature)
{
    pw_code_t *c = NULL;
    pw_error_t err = {0};
    T_EQ_INT(pw_code_load(badexport_wasm, sizeof badexport_wasm, &c, &err), PW_ERR_EXPORT);
    T_ASSERT(strstr(err.message, "proxy_on_request_headers") != NULL);
}

static pw_action_t wat_request(const unsigned char *b, size_t n, fake_t *f, pw_thread_stats_t *s)
{
    env_t e;
    pw_plugin_config_t cfg = {.name = "wat"};
    env_load(&e, b, n, &cfg);
    fake_request(f, "/x");
    pw_stream_t *st = pw_stream_new(e.thread, e.plugin, PW_KIND_HTTP, &sops, f);
    pw_action_t a = pw_stream_on_request_headers(st, 3, true);
    pw_stream_free(st);
    pw_thread_stats(e.thread, s);
    env_close(&e);
    return a;
}

TEST(a_trap_in_the_allocator_fails_the_callback)
{
    fake_t f;
    pw_thread_stats_t s;
    T_EQ_INT(wat_request(alloctrap_wasm, sizeof alloctrap_wasm, &f, &s), PW_STOP_ALL_WATERMARK);
    T_EQ_INT(f.reply_status, 503);
    T_EQ_INT(s.vms_broken, 1);
    T_ASSERT(strstr(logbuf, "in allocator") != NULL);
    fake_free(&f);
}

TEST(abi_0_1_0_header_of_an_unavailable_map_during_log_is_ok_and_empty)
{
    env_t e;
    pw_plugin_config_t cfg = {.name = "logv010"};
    env_load(&e, logv010_wasm, sizeof logv010_wasm, &cfg);
    fake_t f;
    fake_request(&f, "/x"); /* the response headers map stays unavailable */
    pw_stream_t *st = pw_stream_new(e.thread, e.plugin, PW_KIND_HTTP, &sops, &f);
    T_EQ_INT(pw_stream_on_request_headers(st, 3, true), PW_CONTINUE);
    pw_stream_on_log(st);
    pw_stream_free(st);
    pw_thread_stats_t s;
    pw_thread_stats(e.thread, &s);
    T_EQ_INT(s.vms_broken, 0);
    env_close(&e);
    fake_free(&f);
}

TEST(header_pairs_with_an_empty_name_are_set)
{
    fake_t f;
    pw_thread_stats_t s;
    T_EQ_INT(wat_request(emptykey_wasm, sizeof emptykey_wasm, &f, &s), PW_CONTINUE);
    T_EQ_INT(s.vms_broken, 0);
    T_EQ_INT(f.maps[PW_MAP_REQUEST_HEADERS].n, 1);
    T_EQ_STR(f.maps[PW_MAP_REQUEST_HEADERS].k[0], "");
    T_EQ_STR(f.maps[PW_MAP_REQUEST_HEADERS].v[0], "v");
    fake_free(&f);
}

TEST(a_continue_of_a_direction_nothing_paused_does_not_reach_the_proxy)
{
    fake_t f;
    pw_thread_stats_t s;
    T_EQ_INT(wat_request(contresp_wasm, sizeof contresp_wasm, &f, &s), PW_CONTINUE);
    T_EQ_INT(f.continues[PW_STREAM_RESPONSE], 0);
    T_EQ_INT(f.continues[PW_STREAM_REQUEST], 0);
    fake_free(&f);
}

TEST(an_allocator_returning_null_gives_invalid_memory_access)
{
    fake_t f;
    pw_thread_stats_t s;
    T_EQ_INT(wat_request(allocnull_wasm, sizeof allocnull_wasm, &f, &s), PW_CONTINUE);
    T_EQ_INT(s.vms_broken, 0);
    fake_free(&f);
}

TEST(a_callback_that_only_returns_a_constant_is_answered_without_a_call)
{
    env_t e;
    pw_plugin_config_t cfg = {.name = "constcb"};
    env_load(&e, constcb_wasm, sizeof constcb_wasm, &cfg);
    fake_t f;
    fake_request(&f, "/x");
    pw_stream_t *st = pw_stream_new(e.thread, e.plugin, PW_KIND_HTTP, &sops, &f);
    pw_vm_t *vm = st->ctx.vm;
    T_ASSERT(vm != NULL);
    T_ASSERT(vm->cb_constant[PW_CB_REQUEST_HEADERS] && !vm->cb_constant[PW_CB_RESPONSE_HEADERS]);
    /* Both headers callbacks now point at a function that traps: the constant one is never
     * entered, and its answer (StopIteration) still counts; the other one is called. */
    wa_func_t *boom = wa_instance_func(vm->inst, "trapping_headers");
    vm->cb[PW_CB_REQUEST_HEADERS] = vm->cb[PW_CB_RESPONSE_HEADERS] = boom;
    T_EQ_INT(pw_stream_on_request_headers(st, 3, true), PW_STOP_ALL_WATERMARK);
    T_ASSERT(!vm->broken && f.reply_status == 0);
    hset(&f, PW_MAP_RESPONSE_HEADERS, ":status", "200");
    pw_stream_on_response_headers(st, 1, true);
    T_ASSERT(vm->broken);
    T_EQ_INT(f.reply_status, 503);
    pw_stream_free(st);
    env_close(&e);
    fake_free(&f);
}

TEST(sdk_plugins_leave_their_unused_callbacks_constant)
{
    /* Built with -flto (mk/plugins.mk), the C SDK's dispatch folds away: add_header has only
     * configure, root done and response headers, so the other stream callbacks are constants
     * that sluice skips, and the ones the SDK itself needs stay real. */
    env_t e;
    env_open(&e, "add_header", NULL);
    fake_t f;
    fake_request(&f, "/a");
    pw_stream_t *st = pw_stream_new(e.thread, e.plugin, PW_KIND_HTTP, &sops, &f);
    pw_vm_t *vm = st->ctx.vm;
    T_ASSERT(vm != NULL);
    static const pw_cb_t skipped[] = {PW_CB_REQUEST_HEADERS, PW_CB_REQUEST_BODY,
                                      PW_CB_REQUEST_TRAILERS, PW_CB_RESPONSE_BODY,
                                      PW_CB_RESPONSE_TRAILERS, PW_CB_LOG};
    static const pw_cb_t called[] = {PW_CB_CONTEXT_CREATE, PW_CB_RESPONSE_HEADERS, PW_CB_DONE,
                                     PW_CB_DELETE, PW_CB_CONFIGURE};
    for (size_t i = 0; i < sizeof skipped / sizeof *skipped; i++)
        T_ASSERT(vm->cb[skipped[i]] && vm->cb_constant[skipped[i]]);
    for (size_t i = 0; i < sizeof called / sizeof *called; i++)
        T_ASSERT(vm->cb[called[i]] && !vm->cb_constant[called[i]]);
    pw_stream_free(st);
    env_close(&e);
    fake_free(&f);
}
