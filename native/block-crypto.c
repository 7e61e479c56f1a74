/*
 * AES-256-GCM for the disk tier's block files, straight between caller-owned buffers.
 *
 * Why: node:crypto's Cipher has no "update into this buffer". Every `cipher.update` allocates
 * and zero-fills its output, and the disk workers then copy the ciphertext into the page-aligned
 * buffer that direct I/O writes from. Measured on one thread, 1,024 blocks of 1 MiB: encoding and
 * copying 0.59-0.63 s per GiB in JavaScript against 0.30-0.31 s here, and decrypting 0.60-0.62 s
 * against 0.30 s (BENCHMARKS.md, eighth session). The file format is sidecar/block-file.ts's,
 * unchanged: either side reads what the other writes.
 *
 * Node exports its OpenSSL, so this links against nothing else; node-gyp builds it with Node's
 * own headers (native/build-block-crypto.sh). Every call is synchronous and keeps no state, so
 * the disk tier's worker threads each load it (a Node-API module may be loaded per thread).
 *
 *   seal(key[32], nonce[12], aad, plain, out, tag[16]) -> boolean  (out.length >= plain.length)
 *   open(key[32], nonce[12], aad, sealed, tag[16], out) -> boolean (true only if it authenticates)
 *
 * Arguments must be Uint8Arrays (Buffers are); anything else, or a wrong length, returns false.
 */
#include <limits.h>
#include <node_api.h>
#include <openssl/evp.h>

static int bytes_of(napi_env env, napi_value value, unsigned char **data, size_t *length) {
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, value, &type, length, (void **)data, &buffer, &offset) != napi_ok) return 0;
  return type == napi_uint8_array && *length <= INT_MAX;
}

typedef struct {
  unsigned char *key, *nonce, *aad, *input, *output, *tag;
  size_t key_n, nonce_n, aad_n, input_n, output_n, tag_n;
} gcm_args;

/* The six arguments, in the order `tag_last` says (seal: tag last; open: output last). */
static int read_args(napi_env env, napi_callback_info info, int tag_last, gcm_args *a) {
  size_t argc = 6;
  napi_value argv[6];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 6) return 0;
  int ok = bytes_of(env, argv[0], &a->key, &a->key_n) && bytes_of(env, argv[1], &a->nonce, &a->nonce_n) &&
           bytes_of(env, argv[2], &a->aad, &a->aad_n) && bytes_of(env, argv[3], &a->input, &a->input_n) &&
           bytes_of(env, argv[tag_last ? 4 : 5], &a->output, &a->output_n) &&
           bytes_of(env, argv[tag_last ? 5 : 4], &a->tag, &a->tag_n);
  return ok && a->key_n == 32 && a->nonce_n == 12 && a->tag_n == 16 && a->output_n >= a->input_n;
}

static napi_value boolean(napi_env env, int value) {
  napi_value result;
  napi_get_boolean(env, value, &result);
  return result;
}

static napi_value seal(napi_env env, napi_callback_info info) {
  gcm_args a;
  if (!read_args(env, info, 1, &a)) return boolean(env, 0);
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int n = 0, last = 0;
  int ok = ctx != NULL && EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
           EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1 &&
           EVP_EncryptInit_ex(ctx, NULL, NULL, a.key, a.nonce) == 1 &&
           EVP_EncryptUpdate(ctx, NULL, &n, a.aad, (int)a.aad_n) == 1 &&
           EVP_EncryptUpdate(ctx, a.output, &n, a.input, (int)a.input_n) == 1 &&
           EVP_EncryptFinal_ex(ctx, a.output + n, &last) == 1 &&
           EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, a.tag) == 1;
  EVP_CIPHER_CTX_free(ctx);
  return boolean(env, ok);
}

static napi_value open_sealed(napi_env env, napi_callback_info info) {
  gcm_args a;
  if (!read_args(env, info, 0, &a)) return boolean(env, 0);
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int n = 0, last = 0;
  int ok = ctx != NULL && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
           EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1 &&
           EVP_DecryptInit_ex(ctx, NULL, NULL, a.key, a.nonce) == 1 &&
           EVP_DecryptUpdate(ctx, NULL, &n, a.aad, (int)a.aad_n) == 1 &&
           EVP_DecryptUpdate(ctx, a.output, &n, a.input, (int)a.input_n) == 1 &&
           EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, a.tag) == 1 &&
           EVP_DecryptFinal_ex(ctx, a.output + n, &last) == 1;
  EVP_CIPHER_CTX_free(ctx);
  return boolean(env, ok);
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "seal", NAPI_AUTO_LENGTH, seal, NULL, &fn);
  napi_set_named_property(env, exports, "seal", fn);
  napi_create_function(env, "open", NAPI_AUTO_LENGTH, open_sealed, NULL, &fn);
  napi_set_named_property(env, exports, "open", fn);
  return exports;
}
