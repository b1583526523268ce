/* Names of the proxy-wide status codes, generated from the one list in sl_status.h so a new
 * code can never lack its text. */
#include "proxy/sl_status.h"

const char *sl_status_str(sl_status_t s)
{
    switch (s) {
#define SL_X_(name, str)                                                                           \
    case name:                                                                                     \
        return str;
        SL_STATUS_LIST(SL_X_)
#undef SL_X_
    }
    return "unknown status";
}
