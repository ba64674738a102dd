#include "common/tls_config.h"

#include <grpc/grpc_security_constants.h>

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace adamasync {
namespace {

// A PEM value given either as a file or as text (at most one of them).
absl::StatusOr<std::string> PemFrom(const std::string& file, const std::string& pem,
                                    const std::string& what) {
  if (!file.empty() && !pem.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": give the file or the PEM text, not both"));
  }
  if (!file.empty()) return ReadPemFile(file, what);
  if (!pem.empty() && !absl::StrContains(pem, "-----BEGIN")) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is not PEM (no -----BEGIN line)"));
  }
  return pem;
}

}  // namespace

absl::StatusOr<std::string> ReadPemFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(what, ": cannot read '", path, "'"));
  std::ostringstream contents;
  contents << in.rdbuf();
  if (!in.good() && !in.eof()) {
    return absl::NotFoundError(absl::StrCat(what, ": error reading '", path, "'"));
  }
  std::string pem = contents.str();
  if (!absl::StrContains(pem, "-----BEGIN")) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": '", path, "' is not PEM (no -----BEGIN line)"));
  }
  return pem;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsOptions& options) {
  if (!options.enabled()) {
    if (!options.client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "a client CA (mutual TLS) needs TLS: give the server's certificate and key too");
    }
    return grpc::InsecureServerCredentials();
  }
  if (options.cert_file.empty() || options.key_file.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both the server's certificate chain and its private key");
  }
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  ASSIGN_OR_RETURN(pair.cert_chain, ReadPemFile(options.cert_file, "server certificate"));
  ASSIGN_OR_RETURN(pair.private_key, ReadPemFile(options.key_file, "server private key"));
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  if (!options.client_ca_file.empty()) {
    ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadPemFile(options.client_ca_file, "client CA"));
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::SslServerCredentials(ssl);
  if (credentials == nullptr) {
    return absl::InvalidArgumentError("gRPC rejected the server's TLS settings");
  }
  return credentials;
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ClientTlsOptions& tls, grpc::ChannelArguments* args) {
  const bool has_client_identity = !tls.cert_file.empty() || !tls.cert_pem.empty() ||
                                   !tls.key_file.empty() || !tls.key_pem.empty();
  if (!tls.enabled()) {
    if (has_client_identity || !tls.server_name.empty()) {
      return absl::InvalidArgumentError(
          "tls: a client certificate or server_name needs a CA (tls.ca_file or tls.ca_pem)");
    }
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions ssl;
  ASSIGN_OR_RETURN(ssl.pem_root_certs, PemFrom(tls.ca_file, tls.ca_pem, "tls CA"));
  ASSIGN_OR_RETURN(ssl.pem_cert_chain,
                   PemFrom(tls.cert_file, tls.cert_pem, "tls client certificate"));
  ASSIGN_OR_RETURN(ssl.pem_private_key, PemFrom(tls.key_file, tls.key_pem, "tls client key"));
  if (ssl.pem_cert_chain.empty() != ssl.pem_private_key.empty()) {
    return absl::InvalidArgumentError(
        "tls: a client certificate needs its private key, and a key its certificate");
  }
  if (!tls.server_name.empty()) {
    if (args == nullptr) return absl::InternalError("tls.server_name needs channel arguments");
    args->SetSslTargetNameOverride(tls.server_name);
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::SslCredentials(ssl);
  if (credentials == nullptr) {
    return absl::InvalidArgumentError("gRPC rejected the client's TLS settings");
  }
  return credentials;
}

absl::Status CheckServerTransport(const ServerTlsOptions& tls, bool plaintext) {
  if (plaintext && (tls.enabled() || !tls.client_ca_file.empty())) {
    return absl::InvalidArgumentError(
        "--plaintext contradicts --tls_cert/--tls_key/--tls_client_ca: give one or the other");
  }
  if (!plaintext && !tls.enabled()) {
    return absl::InvalidArgumentError(
        "refusing to serve without TLS: give --tls_cert and --tls_key (and --tls_client_ca for "
        "mutual TLS), or --plaintext to accept unencrypted connections (docs/security.md)");
  }
  return absl::OkStatus();
}

absl::Status CheckClientTransport(const ClientTlsOptions& tls, bool plaintext) {
  const bool any_tls =
      tls.enabled() || !tls.cert_file.empty() || !tls.key_file.empty() || !tls.server_name.empty();
  if (plaintext && any_tls) {
    return absl::InvalidArgumentError(
        "--plaintext contradicts --tls_ca/--tls_cert/--tls_key/--tls_server_name: give one or "
        "the other");
  }
  if (!plaintext && !tls.enabled()) {
    return absl::InvalidArgumentError(
        "refusing to connect without TLS: give --tls_ca (and --tls_cert/--tls_key for mutual "
        "TLS), or --plaintext to connect unencrypted (docs/security.md)");
  }
  return absl::OkStatus();
}

}  // namespace adamasync
