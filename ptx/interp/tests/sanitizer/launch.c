/* launch.c: loads one PTX file through the CUDA driver API (cuModuleLoadData, so the driver
 * JIT-compiles the very text the interpreter runs) and launches one entry, with arguments
 * given like `lawcat ptx check`'s --arg:
 *
 *   launch FILE.ptx ENTRY GRID BLOCK [SHARED_BYTES] [--dump DIR] -- ARG...
 *   GRID, BLOCK: X[,Y[,Z]];  ARG: buf:BYTES (seeded random bytes), uninit:BYTES (allocated,
 *   never written), file:PATH (a buffer holding the file's bytes), u32:V, s32:V, u64:V,
 *   s64:V, f32:V, f64:V. With --dump, every buffer argument i is written to DIR/argI.bin
 *   after the kernel (to compare a GPU's results with the interpreter's).
 *
 * Exit status: 0 when the launch and the synchronisation after it succeed, 1 when the CUDA
 * driver reports an error (printed), 2 for bad usage. Built and run by run.sh under
 * compute-sanitizer; needs only libcuda (the driver) and cuda.h. */
#include <cuda.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 32

static int check(CUresult r, const char *what) {
    if (r != CUDA_SUCCESS) {
        const char *name = "?", *msg = "?";
        cuGetErrorName(r, &name);
        cuGetErrorString(r, &msg);
        fprintf(stderr, "launch: %s failed: %s (%s)\n", what, name, msg);
        return 1;
    }
    return 0;
}

static int dims(const char *s, unsigned d[3]) {
    d[0] = d[1] = d[2] = 1;
    int n = sscanf(s, "%u,%u,%u", &d[0], &d[1], &d[2]);
    return n >= 1 ? 0 : 1;
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    if (!text || fread(text, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(text);
        return NULL;
    }
    text[n] = 0;
    fclose(f);
    return text;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: launch FILE.ptx ENTRY GRID BLOCK [SHARED_BYTES] -- ARG...\n");
        return 2;
    }
    const char *file = argv[1], *entry = argv[2];
    unsigned grid[3], block[3], shared = 0;
    if (dims(argv[3], grid) || dims(argv[4], block)) {
        fprintf(stderr, "launch: bad GRID or BLOCK\n");
        return 2;
    }
    int a = 5;
    const char *dump = NULL;
    while (a < argc && strcmp(argv[a], "--") != 0) {
        if (!strcmp(argv[a], "--dump") && a + 1 < argc) {
            dump = argv[a + 1];
            a += 2;
        } else {
            shared = (unsigned)strtoul(argv[a], NULL, 10);
            a++;
        }
    }
    if (a >= argc || strcmp(argv[a], "--") != 0) {
        fprintf(stderr, "launch: expected -- before the arguments\n");
        return 2;
    }
    a++;
    char *text = read_file(file);
    if (!text)
        return 2;

    CUdevice dev;
    CUcontext ctx;
    CUmodule mod;
    CUfunction fn;
    /* The primary context: the same call on every CUDA version (cuCtxCreate changed in 13). */
    if (check(cuInit(0), "cuInit") || check(cuDeviceGet(&dev, 0), "cuDeviceGet") ||
        check(cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain") || check(cuCtxSetCurrent(ctx), "cuCtxSetCurrent"))
        return 1;
    char log[8192] = {0};
    CUjit_option opts[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void *vals[] = {log, (void *)(uintptr_t)sizeof(log)};
    if (check(cuModuleLoadDataEx(&mod, text, 2, opts, vals), "cuModuleLoadData")) {
        fprintf(stderr, "%s\n", log);
        return 1;
    }
    if (check(cuModuleGetFunction(&fn, mod, entry), "cuModuleGetFunction"))
        return 1;

    /* Each argument's value lives in `store`; `params` points at them. */
    uint64_t store[MAX_ARGS];
    size_t buf_bytes[MAX_ARGS] = {0};
    void *params[MAX_ARGS];
    int nargs = 0;
    uint64_t seed = 0x5eed;
    for (; a < argc; a++, nargs++) {
        if (nargs == MAX_ARGS) {
            fprintf(stderr, "launch: too many arguments\n");
            return 2;
        }
        const char *s = argv[a];
        const char *v = strchr(s, ':');
        if (!v) {
            fprintf(stderr, "launch: bad argument %s\n", s);
            return 2;
        }
        v++;
        params[nargs] = &store[nargs];
        store[nargs] = 0;
        if (!strncmp(s, "buf:", 4) || !strncmp(s, "uninit:", 7)) {
            size_t bytes = strtoull(v, NULL, 10);
            CUdeviceptr p;
            if (check(cuMemAlloc(&p, bytes), "cuMemAlloc"))
                return 1;
            if (s[0] == 'b') {
                unsigned char *h = malloc(bytes);
                for (size_t i = 0; i < bytes; i++) {
                    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                    h[i] = (unsigned char)(seed >> 56);
                }
                if (check(cuMemcpyHtoD(p, h, bytes), "cuMemcpyHtoD"))
                    return 1;
                free(h);
            }
            store[nargs] = (uint64_t)p;
            buf_bytes[nargs] = bytes;
        } else if (!strncmp(s, "file:", 5)) {
            FILE *f = fopen(v, "rb");
            if (!f) {
                perror(v);
                return 2;
            }
            fseek(f, 0, SEEK_END);
            size_t bytes = (size_t)ftell(f);
            fseek(f, 0, SEEK_SET);
            unsigned char *h = malloc(bytes ? bytes : 1);
            if (fread(h, 1, bytes, f) != bytes) {
                fclose(f);
                return 2;
            }
            fclose(f);
            CUdeviceptr p;
            if (check(cuMemAlloc(&p, bytes), "cuMemAlloc") || check(cuMemcpyHtoD(p, h, bytes), "cuMemcpyHtoD"))
                return 1;
            free(h);
            store[nargs] = (uint64_t)p;
            buf_bytes[nargs] = bytes;
        } else if (!strncmp(s, "u32:", 4) || !strncmp(s, "s32:", 4)) {
            uint32_t x = (uint32_t)strtol(v, NULL, 0);
            memcpy(&store[nargs], &x, 4);
        } else if (!strncmp(s, "u64:", 4) || !strncmp(s, "s64:", 4)) {
            uint64_t x = (uint64_t)strtoll(v, NULL, 0);
            store[nargs] = x;
        } else if (!strncmp(s, "f32:", 4)) {
            float x = strtof(v, NULL);
            memcpy(&store[nargs], &x, 4);
        } else if (!strncmp(s, "f64:", 4)) {
            double x = strtod(v, NULL);
            memcpy(&store[nargs], &x, 8);
        } else {
            fprintf(stderr, "launch: unknown argument kind %s\n", s);
            return 2;
        }
    }
    if (check(cuLaunchKernel(fn, grid[0], grid[1], grid[2], block[0], block[1], block[2], shared, NULL, params, NULL), "cuLaunchKernel"))
        return 1;
    if (check(cuCtxSynchronize(), "cuCtxSynchronize"))
        return 1;
    for (int i = 0; dump && i < nargs; i++) {
        if (!buf_bytes[i])
            continue;
        unsigned char *h = malloc(buf_bytes[i]);
        if (check(cuMemcpyDtoH(h, (CUdeviceptr)store[i], buf_bytes[i]), "cuMemcpyDtoH"))
            return 1;
        char path[4096];
        snprintf(path, sizeof(path), "%s/arg%d.bin", dump, i);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(h, 1, buf_bytes[i], f) != buf_bytes[i]) {
            perror(path);
            return 2;
        }
        fclose(f);
        free(h);
    }
    printf("launch: %s %s ran\n", file, entry);
    return 0;
}
