/* A stand-in guest allocator for host_bench only: linked into a copy of hostcalls.wasm in
 * place of the SDK's (pwc_alloc.c), so the hostcall figures can show the host and engine alone. */
#include <stddef.h>
#include <string.h>

/* Bump allocation in a fixed arena that starts over when full; free does nothing. Only the
 * benchmark's loops use it: they free every block before the next allocation, and nothing
 * they allocate lives long enough to be overwritten. Each block is preceded by 16 bytes
 * holding its size, for realloc. */
static unsigned char arena[1 << 20] __attribute__((aligned(16)));
static size_t top;

void *malloc(size_t n)
{
    if (n > sizeof arena - 16)
        return NULL;
    n = (n + 15) & ~(size_t)15;
    if (top + 16 + n > sizeof arena)
        top = 0;
    unsigned char *p = arena + top;
    memcpy(p, &n, sizeof n);
    top += 16 + n;
    return p + 16;
}

void free(void *p) { (void)p; }

void *calloc(size_t a, size_t b)
{
    if (b && a > (size_t)-1 / b)
        return NULL;
    void *p = malloc(a * b);
    if (p)
        memset(p, 0, a * b);
    return p;
}

void *realloc(void *old, size_t n)
{
    void *p = malloc(n);
    if (p && old) {
        size_t had;
        memcpy(&had, (unsigned char *)old - 16, sizeof had);
        memcpy(p, old, had < n ? had : n);
    }
    return p;
}

void *aligned_alloc(size_t align, size_t n)
{
    return align <= 16 ? malloc(n) : NULL;
}

int posix_memalign(void **out, size_t align, size_t n)
{
    void *p = aligned_alloc(align, n);
    if (!p)
        return 12; /* ENOMEM */
    *out = p;
    return 0;
}

size_t malloc_usable_size(void *p)
{
    (void)p;
    return 0;
}
