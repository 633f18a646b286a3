/*
 * meterlab adapter plugin ABI, version 1.0.
 *
 * A plugin is a shared library exporting one symbol, `meterlab_adapter_v1`, that returns a
 * pointer to a static MeterlabAdapterDeclV1. The host checks the declaration (ABI major and
 * minor, struct size, schema hash) before calling anything in the vtable.
 *
 * Every buffer crossing the boundary holds protobuf bytes of the `meterlab.plugin.v1` messages
 * (proto/meterlab/plugin/v1). Inputs are borrowed for the duration of a call. Outputs are
 * allocated by the plugin and released by the host through `free_buf`, exactly once.
 *
 * Threading: calls on one session are never concurrent but may come from different threads.
 * A plugin does no I/O of its own: no threads, clocks, sleeping or blocking I/O.
 *
 * Kept in step with crates/plugin/src/abi.rs; the test `header_matches_rust` compiles this
 * header and compares every size, offset and constant.
 */
#ifndef METERLAB_ADAPTER_H
#define METERLAB_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define METERLAB_ABI_MAJOR 1u
#define METERLAB_ABI_MINOR 0u
#define METERLAB_ENTRY_SYMBOL "meterlab_adapter_v1"

/* Status codes returned by vtable functions. */
#define METERLAB_STATUS_OK 0
#define METERLAB_STATUS_PANICKED 1      /* out buffer, if set, holds a UTF-8 message */
#define METERLAB_STATUS_BAD_INPUT 2     /* input did not decode */
#define METERLAB_STATUS_OPEN_REFUSED 3  /* error_out holds a UTF-8 reason */
#define METERLAB_STATUS_NULL_ARGUMENT 4
#define METERLAB_STATUS_POISONED 5      /* the session failed earlier */

/* A buffer allocated by the plugin; the host returns it through free_buf. */
typedef struct MeterlabOwnedBuf {
    uint8_t *ptr;
    size_t len;
} MeterlabOwnedBuf;

typedef struct MeterlabAdapterVtableV1 {
    /* Writes an encoded AdapterInfo. */
    int32_t (*describe)(MeterlabOwnedBuf *out);
    /* Decodes a SessionConfig; writes a session handle, or a reason to error_out. */
    int32_t (*open)(const uint8_t *config, size_t config_len, void **session_out,
                    MeterlabOwnedBuf *error_out);
    /* Decodes a HostEvent; writes the encoded AdapterActions. */
    int32_t (*handle)(void *session, const uint8_t *event, size_t event_len,
                      MeterlabOwnedBuf *actions_out);
    void (*free_buf)(MeterlabOwnedBuf buf);
    /* Ends a session; called exactly once per successful open. */
    int32_t (*close)(void *session);
} MeterlabAdapterVtableV1;

typedef struct MeterlabAdapterDeclV1 {
    uint32_t abi_major;    /* METERLAB_ABI_MAJOR */
    uint32_t abi_minor;    /* METERLAB_ABI_MINOR */
    uint32_t struct_size;  /* sizeof(MeterlabAdapterDeclV1) */
    uint32_t reserved;     /* 0 */
    uint8_t schema_hash[32]; /* SHA-256 of the plugin schema (meterlab_plugin::SCHEMA_HASH) */
    const char *plugin_id;      /* static, NUL-terminated UTF-8 */
    const char *plugin_version; /* static, NUL-terminated UTF-8 */
    const MeterlabAdapterVtableV1 *vtable;
} MeterlabAdapterDeclV1;

typedef const MeterlabAdapterDeclV1 *(*MeterlabEntryPointV1)(void);

/* The one export of a plugin. */
const MeterlabAdapterDeclV1 *meterlab_adapter_v1(void);

#ifdef __cplusplus
}
#endif

#endif /* METERLAB_ADAPTER_H */
