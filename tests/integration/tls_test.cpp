// The API over HTTPS (HOOKD_TLS_CERT, HOOKD_TLS_KEY), as a user observes
// it: the real hookd binary with a self-signed certificate this test makes
// with OpenSSL, and libcurl trusting that certificate only.
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "harness.hpp"

namespace {

using namespace hookd_test;
using clock_type = std::chrono::steady_clock;

/// How long hookd gives a client to finish its TLS handshake (server.cpp).
constexpr auto handshake_deadline = 10s;

// -- certificates ------------------------------------------------------------

struct pem_pair {
  std::string cert;
  std::string key;
};

template <class T, void (*Free)(T*)> struct freer {
  void operator()(T* p) const {
    Free(p);
  }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, freer<EVP_PKEY, EVP_PKEY_free>>;
using x509_ptr = std::unique_ptr<X509, freer<X509, X509_free>>;
using bio_ptr = std::unique_ptr<BIO, freer<BIO, BIO_free_all>>;

void check(bool ok, const char* what) {
  if (!ok)
    throw std::runtime_error(std::string{"OpenSSL: "} + what + " failed");
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

void add_extension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext
      = X509V3_EXT_conf_nid(nullptr, &ctx, nid, const_cast<char*>(value));
  check(ext != nullptr, "X509V3_EXT_conf_nid");
  int added = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  check(added == 1, "X509_add_ext");
}

/// A fresh P-256 key and a self-signed certificate for 127.0.0.1 and
/// localhost, valid from a minute ago for a day. `passphrase` non-empty:
/// the key is written encrypted with it.
pem_pair make_self_signed(const std::string& common_name,
                          const std::string& passphrase = {}) {
  pkey_ptr key{EVP_EC_gen("P-256")};
  check(key != nullptr, "EVP_EC_gen");
  x509_ptr cert{X509_new()};
  check(cert != nullptr, "X509_new");
  check(X509_set_version(cert.get(), X509_VERSION_3) == 1, "X509_set_version");
  static long serial = 1;
  check(ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++) == 1,
        "ASN1_INTEGER_set");
  check(X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60) != nullptr,
        "X509_gmtime_adj");
  check(X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600) != nullptr,
        "X509_gmtime_adj");
  check(X509_set_pubkey(cert.get(), key.get()) == 1, "X509_set_pubkey");
  X509_NAME* name = X509_get_subject_name(cert.get());
  check(X509_NAME_add_entry_by_txt(
            name, "CN", MBSTRING_ASC,
            reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
            0)
            == 1,
        "X509_NAME_add_entry_by_txt");
  check(X509_set_issuer_name(cert.get(), name) == 1, "X509_set_issuer_name");
  add_extension(cert.get(), NID_basic_constraints, "critical,CA:TRUE");
  add_extension(cert.get(), NID_subject_key_identifier, "hash");
  add_extension(cert.get(), NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
  check(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0, "X509_sign");

  pem_pair out;
  bio_ptr cert_bio{BIO_new(BIO_s_mem())};
  check(PEM_write_bio_X509(cert_bio.get(), cert.get()) == 1,
        "PEM_write_bio_X509");
  out.cert = bio_text(cert_bio.get());
  bio_ptr key_bio{BIO_new(BIO_s_mem())};
  if (passphrase.empty()) {
    check(PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr,
                                   0, nullptr, nullptr)
              == 1,
          "PEM_write_bio_PrivateKey");
  } else {
    check(PEM_write_bio_PKCS8PrivateKey(
              key_bio.get(), key.get(), EVP_aes_256_cbc(),
              const_cast<char*>(passphrase.data()),
              static_cast<int>(passphrase.size()), nullptr, nullptr)
              == 1,
          "PEM_write_bio_PKCS8PrivateKey");
  }
  out.key = bio_text(key_bio.get());
  return out;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out << text;
  out.close();
  if (!out)
    throw std::runtime_error("cannot write " + path);
  ::chmod(path.c_str(), 0600);
}

/// The files a test hands hookd: its certificate and key, another CA's
/// certificate and key, an encrypted key and a file that is not PEM.
struct tls_files {
  tls_files() {
    auto server = make_self_signed("hookd test server");
    auto other = make_self_signed("another CA");
    auto locked = make_self_signed("hookd locked key", "correct horse");
    cert = dir.path() + "/server.crt";
    key = dir.path() + "/server.key";
    other_cert = dir.path() + "/other-ca.crt";
    other_key = dir.path() + "/other.key";
    encrypted_cert = dir.path() + "/locked.crt";
    encrypted_key = dir.path() + "/locked.key";
    not_pem = dir.path() + "/not-pem.txt";
    missing = dir.path() + "/missing.pem";
    write_file(cert, server.cert);
    write_file(key, server.key);
    write_file(other_cert, other.cert);
    write_file(other_key, other.key);
    write_file(encrypted_cert, locked.cert);
    write_file(encrypted_key, locked.key);
    write_file(not_pem, "this is not a certificate\n");
    key_pem = server.key;
    other_key_pem = other.key;
  }

  temp_dir dir;
  std::string cert, key, other_cert, other_key, encrypted_cert, encrypted_key,
      not_pem, missing;
  std::string key_pem, other_key_pem;
};

/// The base64 lines of a PEM key: none may appear in hookd's output.
std::vector<std::string> secret_lines(const std::string& pem) {
  std::vector<std::string> out;
  std::istringstream in{pem};
  std::string line;
  while (std::getline(in, line))
    if (!line.empty() && line.rfind("-----", 0) != 0)
      out.push_back(line);
  return out;
}

process_options tls_options(const std::string& cert, const std::string& key) {
  process_options opts;
  opts.env.emplace_back("HOOKD_TLS_CERT", cert);
  opts.env.emplace_back("HOOKD_TLS_KEY", key);
  return opts;
}

// -- serving -----------------------------------------------------------------

class integration_tls : public ::testing::Test {
protected:
  void SetUp() override {
    proc_
        = std::make_unique<hookd_process>(tls_options(files_.cert, files_.key));
    ASSERT_TRUE(proc_->listening()) << proc_->start_error();
  }

  void TearDown() override {
    if (proc_ && proc_->running())
      proc_->kill();
  }

  /// The admin client, trusting the server's certificate.
  http_client https() const {
    return proc_->client().over_tls(files_.cert);
  }

  tls_files files_;
  std::unique_ptr<hookd_process> proc_;
};

TEST_F(integration_tls, serves_the_api_over_https_and_says_so) {
  EXPECT_EQ(proc_->scheme(), "https");
  EXPECT_EQ(proc_->stdout_text(), "hookd listening on https://127.0.0.1:"
                                      + std::to_string(proc_->port()) + "\n");

  auto health = https().as(std::nullopt).get("/healthz");
  ASSERT_TRUE(is_json_status(health, 200)) << show(health);
  // A single node names itself and says nothing of a cluster.
  EXPECT_EQ(health.body_json()["status"], "ok");
  EXPECT_TRUE(health.body_json()["node"].is_string());
  EXPECT_FALSE(health.body_json().contains("cluster"));

  // The API with the admin token, and without it.
  auto created = https().post(
      "/api/orgs/acme/hooks",
      {{"displayName", "over TLS"}, {"payloadUrl", "https://example.com/h"}});
  ASSERT_TRUE(is_json_status(created, 201)) << show(created);
  auto listed = https().get("/api/orgs/acme/hooks");
  ASSERT_TRUE(is_json_status(listed, 200));
  ASSERT_TRUE(listed.body_json().is_array()) << listed.body;
  EXPECT_EQ(listed.body_json().size(), 1u) << listed.body;
  EXPECT_TRUE(
      is_error(https().as(std::nullopt).get("/api/orgs/acme/hooks"), 401));

  auto st = proc_->stop(SIGTERM);
  EXPECT_TRUE(st.clean()) << st;
  for (const auto& line : secret_lines(files_.key_pem)) {
    EXPECT_EQ(proc_->stderr_text().find(line), std::string::npos);
    EXPECT_EQ(proc_->stdout_text().find(line), std::string::npos);
  }
}

TEST_F(integration_tls, plain_http_on_the_same_port_gets_no_api_answer) {
  auto plain = proc_->client().get("/healthz");
  EXPECT_EQ(plain.status, 0) << show(plain);
  EXPECT_FALSE(plain.error.empty()) << show(plain);

  auto raw = raw_request(proc_->port(),
                         "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         "Connection: close\r\n\r\n",
                         5s);
  EXPECT_NE(raw.status, 200) << show(raw);
  EXPECT_EQ(raw.body.find("\"ok\""), std::string::npos) << show(raw);

  // The server goes on serving HTTPS.
  EXPECT_TRUE(is_json_status(https().get("/healthz"), 200));
}

TEST_F(integration_tls, a_client_trusting_another_ca_is_refused) {
  auto r = proc_->client().over_tls(files_.other_cert).get("/healthz");
  EXPECT_EQ(r.status, 0) << show(r);
  EXPECT_EQ(r.error, curl_easy_strerror(CURLE_PEER_FAILED_VERIFICATION))
      << show(r);
  EXPECT_TRUE(is_json_status(https().get("/healthz"), 200));
}

/// A TCP connection to 127.0.0.1:port that sends nothing.
int connect_silently(std::uint16_t port) {
  std::string error;
  return connect_loopback(port, error);
}

/// Whether the peer closed `fd` (end of file or reset) within `deadline`.
bool closed_by_peer(int fd, std::chrono::milliseconds deadline) {
  auto until = clock_type::now() + deadline;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - clock_type::now());
    if (left.count() <= 0)
      return false;
    pollfd p{fd, POLLIN, 0};
    int pr = ::poll(&p, 1, static_cast<int>(left.count()));
    if (pr <= 0)
      continue;
    char buf[512];
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
      return true;
  }
}

TEST(integration_tls_handshake, a_client_that_never_handshakes_is_dropped) {
  // One connection at a time: a client sitting on it before its handshake
  // would lock every other client out, were there no deadline.
  tls_files files;
  auto opts = tls_options(files.cert, files.key);
  opts.env.emplace_back("HOOKD_MAX_CONNECTIONS", "1");
  hookd_process proc{opts};
  ASSERT_TRUE(proc.listening()) << proc.start_error();

  int silent = connect_silently(proc.port());
  ASSERT_GE(silent, 0);
  auto started = clock_type::now();
  // Waits in the backlog until the silent client is dropped.
  auto r = proc.client().over_tls(files.cert).get("/healthz");
  auto waited = clock_type::now() - started;
  EXPECT_TRUE(is_json_status(r, 200)) << show(r);
  EXPECT_TRUE(closed_by_peer(silent, 1s))
      << "the client that never started its handshake is still connected";
  ::close(silent);
  EXPECT_LT(waited, handshake_deadline + 4s);
  proc.kill();
}

// -- refusing to start
// ---------------------------------------------------------

/// Starts hookd with `env`; it must exit non-zero without listening, its
/// stderr naming each of `needles` and none of the key's base64 lines.
void expect_refused(
    const std::vector<std::pair<std::string, std::optional<std::string>>>& env,
    const std::vector<std::string>& needles,
    const std::vector<std::string>& secrets = {}) {
  process_options opts;
  opts.wait_listening = false;
  opts.env = env;
  hookd_process proc{opts};
  auto st = proc.wait_exit(start_deadline);
  EXPECT_FALSE(st.timed_out) << "hookd kept running";
  EXPECT_TRUE(st.exited) << st;
  EXPECT_NE(st.code, 0) << st;
  auto err = proc.stderr_text();
  for (const auto& needle : needles)
    EXPECT_NE(err.find(needle), std::string::npos)
        << "want '" << needle << "' in stderr: " << err;
  for (const auto& secret : secrets)
    EXPECT_EQ(err.find(secret), std::string::npos)
        << "key material in stderr: " << err;
  EXPECT_EQ(proc.stdout_text().find("listening"), std::string::npos)
      << proc.stdout_text();
}

class integration_tls_refused : public ::testing::Test {
protected:
  tls_files files_;
};

TEST_F(integration_tls_refused, a_certificate_without_a_key) {
  expect_refused({{"HOOKD_TLS_CERT", files_.cert}},
                 {"HOOKD_TLS_CERT", "HOOKD_TLS_KEY"});
}

TEST_F(integration_tls_refused, a_key_without_a_certificate) {
  expect_refused({{"HOOKD_TLS_KEY", files_.key}},
                 {"HOOKD_TLS_CERT", "HOOKD_TLS_KEY"});
}

TEST_F(integration_tls_refused, a_missing_certificate_file) {
  expect_refused(
      {{"HOOKD_TLS_CERT", files_.missing}, {"HOOKD_TLS_KEY", files_.key}},
      {"HOOKD_TLS_CERT", files_.missing});
}

TEST_F(integration_tls_refused, a_missing_key_file) {
  expect_refused(
      {{"HOOKD_TLS_CERT", files_.cert}, {"HOOKD_TLS_KEY", files_.missing}},
      {"HOOKD_TLS_KEY", files_.missing});
}

TEST_F(integration_tls_refused, a_certificate_file_that_is_not_pem) {
  expect_refused(
      {{"HOOKD_TLS_CERT", files_.not_pem}, {"HOOKD_TLS_KEY", files_.key}},
      {"HOOKD_TLS_CERT", files_.not_pem});
}

TEST_F(integration_tls_refused, a_certificate_given_as_the_key) {
  expect_refused(
      {{"HOOKD_TLS_CERT", files_.cert}, {"HOOKD_TLS_KEY", files_.cert}},
      {"HOOKD_TLS_KEY", files_.cert, "no PEM private key"});
}

TEST_F(integration_tls_refused, a_key_that_does_not_match_the_certificate) {
  expect_refused(
      {{"HOOKD_TLS_CERT", files_.cert}, {"HOOKD_TLS_KEY", files_.other_key}},
      {"HOOKD_TLS_KEY", files_.other_key, files_.cert, "does not match"},
      secret_lines(files_.other_key_pem));
}

TEST_F(integration_tls_refused, an_encrypted_key_without_prompting) {
  expect_refused({{"HOOKD_TLS_CERT", files_.encrypted_cert},
                  {"HOOKD_TLS_KEY", files_.encrypted_key}},
                 {"HOOKD_TLS_KEY", files_.encrypted_key, "encrypted"});
}

} // namespace
