#pragma once

#include <string>

#include <openssl/types.h>

/// The API's own TLS (HOOKD_TLS_CERT, HOOKD_TLS_KEY): checking the files at
/// start and setting up the server's OpenSSL context from them. Every
/// function answers why not (naming the file) or an empty string. An
/// encrypted key is refused, never prompted for, and no message carries
/// key material.
namespace hookd::tls {

/// Whether `path` holds a PEM certificate (a chain: the server's first).
std::string check_certificate_file(const std::string& path);

/// Whether `path` holds an unencrypted PEM private key.
std::string check_key_file(const std::string& path);

/// Sets `ctx` up to serve HTTPS: TLS 1.2 at least, no compression, no
/// renegotiation, forward-secret AEAD ciphers below TLS 1.3; then the
/// certificate chain in `cert_file` and the key in `key_file`, which must
/// belong together.
std::string configure_server(SSL_CTX* ctx, const std::string& cert_file,
                             const std::string& key_file);

/// configure_server on a throwaway context: whether hookd can serve HTTPS
/// with these files.
std::string check_server_files(const std::string& cert_file,
                               const std::string& key_file);

} // namespace hookd::tls
