/* Throughput of the HTTP/1.1 parser alone: parses typical requests and responses from memory
 * in a time-bounded loop and prints messages/s and MB/s for each. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/sl_h1_parse.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Parses `msg` whole, again and again, for about `seconds`; returns messages per second. */
static double run(sl_h1_kind_t kind, const char *msg, double seconds, unsigned long *checksum)
{
    size_t len = strlen(msg);
    sl_h1_parser_t p;
    sl_h1_parser_init(&p, kind, NULL);
    unsigned long n = 0, sum = 0;
    double t0 = now_s(), t1 = t0;
    while (t1 - t0 < seconds) {
        for (int k = 0; k < 10000; k++) {
            size_t off = 0;
            for (;;) {
                sl_h1_event_t ev;
                if (kind == SL_H1_RESPONSE)
                    sl_h1_parser_set_request_method(&p, "GET", 3);
                off += sl_h1_parse(&p, msg + off, len - off, &ev);
                if (ev.type == SL_H1_EV_HEADERS)
                    sum += ev.n_headers;
                else if (ev.type == SL_H1_EV_BODY)
                    sum += ev.data.len;
                else if (ev.type == SL_H1_EV_MESSAGE_COMPLETE || ev.type == SL_H1_EV_NEED_MORE)
                    break;
                else if (ev.type == SL_H1_EV_ERROR) {
                    fprintf(stderr, "h1_parse_bench: parse error: %s\n", sl_h1_error_str(ev.error));
                    return 0;
                }
            }
            n++;
        }
        t1 = now_s();
    }
    *checksum += sum;
    return (double)n / (t1 - t0);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? strtod(argv[1], NULL) : 1.0;
    static const struct {
        const char *name;
        sl_h1_kind_t kind;
        const char *msg;
    } cases[] = {
        {"request, curl-like (3 fields)", SL_H1_REQUEST,
         "GET /index.html HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/8.5.0\r\n"
         "Accept: */*\r\n\r\n"},
        {"request, browser-like (11 fields)", SL_H1_REQUEST,
         "GET /wp-content/uploads/2010/03/hello-kitty-darth-vader-pink.jpg HTTP/1.1\r\n"
         "Host: www.example.com\r\n"
         "User-Agent: Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10_6_3; ja-JP-mac; rv:1.9.2.3) "
         "Gecko/20100401 Firefox/3.6.3 Pathtraq/0.9\r\n"
         "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
         "Accept-Language: ja,en-us;q=0.7,en;q=0.3\r\n"
         "Accept-Encoding: gzip,deflate\r\n"
         "Accept-Charset: Shift_JIS,utf-8;q=0.7,*;q=0.7\r\n"
         "Keep-Alive: 115\r\n"
         "Connection: keep-alive\r\n"
         "Cookie: wp_ozh_wsa_visits=2; wp_ozh_wsa_visit_lasttime=xxxxxxxxxx; "
         "__utma=xxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.x; "
         "__utmz=xxxxxxxxx.xxxxxxxxxx.x.x.utmccn=(referral)|utmcsr=reader.livedoor.com|"
         "utmcct=/reader/|utmcmd=referral\r\n"
         "Cache-Control: max-age=0\r\n"
         "Referer: http://www.example.com/\r\n\r\n"},
        {"response, small body (4 fields)", SL_H1_RESPONSE,
         "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Tue, 24 Nov 2026 17:00:00 GMT\r\n"
         "Content-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!"},
        {"response, chunked body (3 chunks)", SL_H1_RESPONSE,
         "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
         "5\r\nHello\r\n2\r\n, \r\n6;x=y\r\nworld!\r\n0\r\n\r\n"},
    };
    unsigned long checksum = 0;
    printf("%-36s %14s %10s\n", "message", "messages/s", "MB/s");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double rate = run(cases[i].kind, cases[i].msg, seconds, &checksum);
        printf("%-36s %14.0f %10.1f\n", cases[i].name, rate,
               rate * (double)strlen(cases[i].msg) / 1e6);
    }
    printf("(checksum %lu)\n", checksum);
    return 0;
}
