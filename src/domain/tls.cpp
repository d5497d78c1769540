#include "hookd/tls.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace hookd::tls {

namespace {

/// Certificates and keys are a few kilobytes; a chain with every
/// intermediate stays far below this.
constexpr long max_file_bytes = 1024 * 1024;

/// TLS 1.2's forward-secret AEAD suites (Mozilla's "intermediate" list);
/// TLS 1.3 keeps OpenSSL's defaults, which are all of that kind.
constexpr const char* tls12_ciphers
    = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
      "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
      "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

struct bio_free {
  void operator()(BIO* b) const {
    BIO_free(b);
  }
};
struct x509_free {
  void operator()(X509* x) const {
    X509_free(x);
  }
};
struct pkey_free {
  void operator()(EVP_PKEY* k) const {
    EVP_PKEY_free(k);
  }
};
struct ctx_free {
  void operator()(SSL_CTX* c) const {
    SSL_CTX_free(c);
  }
};
using bio_ptr = std::unique_ptr<BIO, bio_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using ctx_ptr = std::unique_ptr<SSL_CTX, ctx_free>;

/// Refuses every passphrase: hookd never prompts on a terminal.
int no_passphrase(char*, int, int, void*) {
  return -1;
}

/// " (OpenSSL's reason)" for the last error, which it clears; OpenSSL's
/// reasons name what failed, never the bytes it read.
std::string openssl_reason() {
  auto err = ERR_peek_last_error();
  ERR_clear_error();
  const char* reason = err != 0 ? ERR_reason_error_string(err) : nullptr;
  return reason != nullptr ? std::string{" ("} + reason + ")" : std::string{};
}

std::string quoted(const std::string& path) {
  return "'" + path + "'";
}

/// The whole file into `out`, or why not.
std::string read_file(const std::string& path, std::string& out) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    return "cannot read " + quoted(path) + ": it is a directory";
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f{
      std::fopen(path.c_str(), "rb"), &std::fclose};
  if (!f)
    return "cannot read " + quoted(path) + ": " + std::strerror(errno);
  out.clear();
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) {
    out.append(buf, n);
    if (out.size() > static_cast<std::size_t>(max_file_bytes))
      return quoted(path) + " is larger than 1 MiB: not a PEM file";
  }
  if (std::ferror(f.get()))
    return "cannot read " + quoted(path) + ": " + std::strerror(errno);
  return {};
}

bio_ptr memory_bio(const std::string& bytes) {
  return bio_ptr{BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size()))};
}

/// The certificate chain at `path` into `ctx`: the first certificate is
/// the server's, the rest go out with it as its chain.
std::string load_chain(SSL_CTX* ctx, const std::string& path) {
  std::string pem;
  if (auto why = read_file(path, pem); !why.empty())
    return why;
  auto bio = memory_bio(pem);
  if (!bio)
    return "cannot read " + quoted(path) + openssl_reason();
  ERR_clear_error();
  x509_ptr leaf{
      PEM_read_bio_X509_AUX(bio.get(), nullptr, no_passphrase, nullptr)};
  if (!leaf)
    return quoted(path) + " holds no PEM certificate" + openssl_reason();
  if (SSL_CTX_use_certificate(ctx, leaf.get()) != 1)
    return "cannot use the certificate in " + quoted(path) + openssl_reason();
  SSL_CTX_clear_chain_certs(ctx);
  while (X509* next
         = PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr)) {
    if (SSL_CTX_add0_chain_cert(ctx, next) != 1) {
      X509_free(next);
      return "cannot use the chain in " + quoted(path) + openssl_reason();
    }
  }
  // The loop ends at the end of the file ("no start line") or at a block
  // that is not a certificate.
  auto err = ERR_peek_last_error();
  if (err != 0
      && !(ERR_GET_LIB(err) == ERR_LIB_PEM
           && ERR_GET_REASON(err) == PEM_R_NO_START_LINE))
    return "a certificate after the first in " + quoted(path)
           + " is not valid PEM" + openssl_reason();
  ERR_clear_error();
  return {};
}

/// The private key at `path`, or why not in `why`. The file's bytes are
/// wiped from memory once parsed.
pkey_ptr load_key(const std::string& path, std::string& why) {
  std::string pem;
  why = read_file(path, pem);
  if (!why.empty()) {
    OPENSSL_cleanse(pem.data(), pem.size());
    return nullptr;
  }
  bool encrypted = pem.find("ENCRYPTED") != std::string::npos;
  bool marked = pem.find("PRIVATE KEY-----") != std::string::npos;
  pkey_ptr key;
  if (auto bio = memory_bio(pem)) {
    ERR_clear_error();
    key.reset(
        PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  }
  OPENSSL_cleanse(pem.data(), pem.size());
  if (!key) {
    auto reason = openssl_reason();
    if (encrypted)
      why = quoted(path)
            + " holds an encrypted private key: hookd needs it unencrypted "
              "(readable only by hookd's user)";
    else if (!marked)
      why = quoted(path) + " holds no PEM private key";
    else
      why = "cannot read the private key in " + quoted(path) + reason;
  }
  return key;
}

} // namespace

std::string check_certificate_file(const std::string& path) {
  ctx_ptr ctx{SSL_CTX_new(TLS_server_method())};
  if (!ctx)
    return "cannot make a TLS context" + openssl_reason();
  return load_chain(ctx.get(), path);
}

std::string check_key_file(const std::string& path) {
  std::string why;
  load_key(path, why);
  return why;
}

std::string configure_server(SSL_CTX* ctx, const std::string& cert_file,
                             const std::string& key_file) {
  ERR_clear_error();
  SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
    return "cannot require TLS 1.2" + openssl_reason();
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION
                               | SSL_OP_SINGLE_DH_USE | SSL_OP_SINGLE_ECDH_USE);
  if (SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1)
    return "cannot set the TLS 1.2 ciphers" + openssl_reason();
  if (auto why = load_chain(ctx, cert_file); !why.empty())
    return why;
  std::string why;
  auto key = load_key(key_file, why);
  if (!key)
    return why;
  if (X509_check_private_key(SSL_CTX_get0_certificate(ctx), key.get()) != 1) {
    ERR_clear_error();
    return "the private key in " + quoted(key_file)
           + " does not match the certificate in " + quoted(cert_file);
  }
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1
      || SSL_CTX_check_private_key(ctx) != 1)
    return "cannot use the private key in " + quoted(key_file)
           + openssl_reason();
  ERR_clear_error();
  return {};
}

std::string check_server_files(const std::string& cert_file,
                               const std::string& key_file) {
  ctx_ptr ctx{SSL_CTX_new(TLS_server_method())};
  if (!ctx)
    return "cannot make a TLS context" + openssl_reason();
  return configure_server(ctx.get(), cert_file, key_file);
}

} // namespace hookd::tls
