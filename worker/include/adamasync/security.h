// Transport security and credentials of the client SDK: TLS (optionally
// mutual) to the shard servers and a bearer token sent with every call.
// Plain structs; part of the public SDK (see client.h, ClientOptions::tls
// and ClientOptions::credentials, and docs/security.md).
//
// Example (TLS, client certificate, token rotated by rewriting the file):
//   adamasync::ClientOptions options;
//   options.servers = {"ps-0.example:7000"};
//   options.tls.ca_file = "/etc/adamasync/ca.pem";
//   options.tls.cert_file = "/etc/adamasync/worker.pem";  // mutual TLS only
//   options.tls.key_file = "/etc/adamasync/worker.key";
//   options.credentials.token_file = "/var/run/secrets/adamasync/token";
#ifndef ADAMASYNC_SECURITY_H_
#define ADAMASYNC_SECURITY_H_

#include <string>

namespace adamasync {

// TLS to the shard servers. With no CA (ca_file and ca_pem both empty) the
// client connects in plaintext: only for loopback, tests, or a network that
// already encrypts (a service mesh).
struct ClientTlsOptions {
  // The CA bundle (PEM) that every server's certificate must chain to: a
  // file, or the PEM text itself. Setting either enables TLS.
  // REQUIRES: not both. Default empty (plaintext).
  std::string ca_file;
  std::string ca_pem;
  // The client's certificate chain and private key (PEM) for servers that
  // require mutual TLS: files or PEM text. REQUIRES: a CA, and a certificate
  // exactly when a key (each from one source). Default empty (none).
  std::string cert_file;
  std::string cert_pem;
  std::string key_file;
  std::string key_pem;
  // The name the servers' certificates must carry (subjectAltName), when it
  // is not the host of the addresses in ClientOptions::servers (e.g. servers
  // addressed by IP). Default empty: the address's host.
  std::string server_name;

  bool enabled() const { return !ca_file.empty() || !ca_pem.empty(); }
};

// The bearer token sent with every call as "authorization: Bearer <token>",
// for servers started with a token table (--token_file). Empty (default):
// no token.
struct ClientCredentials {
  // The token itself. REQUIRES: not together with token_file.
  std::string token;
  // A file holding the token (surrounding whitespace ignored). Read when the
  // Client is created (NOT_FOUND / INVALID_ARGUMENT when it cannot be read or
  // is empty) and re-read when it changes (checked at most once a second),
  // so a rotated token is picked up without restarting. If a later read
  // fails, the last good token stays in use.
  std::string token_file;

  bool enabled() const { return !token.empty() || !token_file.empty(); }
};

}  // namespace adamasync

#endif  // ADAMASYNC_SECURITY_H_
