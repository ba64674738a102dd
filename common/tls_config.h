// TLS settings of servers and clients turned into gRPC credentials: the one
// place where PEM files are read and grpc::SslServerCredentials /
// grpc::SslCredentials are built.
//
// A server has a certificate chain and key; with a client CA it also
// requires and verifies a client certificate (mutual TLS). A client
// verifies the server against a CA and may present its own certificate
// (adamasync/security.h). Without TLS settings both sides use plaintext.
//
// Example:
//   ServerTlsOptions tls{"server.pem", "server.key", /*client_ca_file=*/""};
//   ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> creds,
//                    MakeServerCredentials(tls));
//   builder.AddListeningPort(address, creds, &port);
//
// Thread safety: the functions keep no state.
#ifndef ADAMASYNC_COMMON_TLS_CONFIG_H_
#define ADAMASYNC_COMMON_TLS_CONFIG_H_

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "adamasync/security.h"

namespace adamasync {

struct ServerTlsOptions {
  // PEM files of the server's certificate chain and private key. Both empty:
  // plaintext. REQUIRES: both or neither.
  std::string cert_file;
  std::string key_file;
  // PEM CA bundle. When set, every client must present a certificate signed
  // by it (mutual TLS); the handshake fails otherwise. REQUIRES: TLS on.
  std::string client_ca_file;

  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};

// Reads a PEM file. NOT_FOUND when it cannot be read; INVALID_ARGUMENT when
// it holds no "-----BEGIN" block. `what` names it in errors ("--tls_cert").
absl::StatusOr<std::string> ReadPemFile(const std::string& path, const std::string& what);

// Credentials for a listening port: SslServerCredentials when
// options.enabled(), else InsecureServerCredentials. INVALID_ARGUMENT /
// NOT_FOUND for inconsistent options or unreadable files.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsOptions& options);

// Credentials for channels to the servers: SslCredentials when
// tls.enabled(), else InsecureChannelCredentials. With tls.server_name, sets
// the target-name override on `args` (REQUIRES: args not null then).
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ClientTlsOptions& tls, grpc::ChannelArguments* args);

// The daemons' rule for choosing a transport: TLS settings, or an explicit
// --plaintext, exactly one of the two. INVALID_ARGUMENT saying what to add
// or remove otherwise.
absl::Status CheckServerTransport(const ServerTlsOptions& tls, bool plaintext);
absl::Status CheckClientTransport(const ClientTlsOptions& tls, bool plaintext);

}  // namespace adamasync

#endif  // ADAMASYNC_COMMON_TLS_CONFIG_H_
