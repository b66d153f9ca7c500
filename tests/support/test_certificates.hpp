// tests/support/test_certificates.hpp — throwaway TLS certificates, made fresh by each test run:
// a CA, a server certificate it signs for "localhost" and 127.0.0.1, and an unrelated key.
// No private key is ever committed.
// SPDX-License-Identifier: MIT
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

namespace cosock_test {

namespace certificates_detail {

struct key_free {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct x509_free {
    void operator()(X509* x) const { X509_free(x); }
};
using key_ptr = std::unique_ptr<EVP_PKEY, key_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;

inline void require(bool ok, const char* what) {
    if (!ok) throw std::runtime_error(std::string("making test certificates: ") + what);
}

inline key_ptr new_key() {
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, nullptr);
    EVP_PKEY* key = nullptr;
    bool ok = ctx && EVP_PKEY_keygen_init(ctx) == 1 &&
              EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx, NID_X9_62_prime256v1) == 1 &&
              EVP_PKEY_keygen(ctx, &key) == 1;
    EVP_PKEY_CTX_free(ctx);
    require(ok, "EC key");
    return key_ptr(key);
}

inline void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
    require(ext && X509_add_ext(cert, ext, -1) == 1, "extension");
    X509_EXTENSION_free(ext);
}

/// A certificate for `subject_key`, named `common_name`, signed by `issuer` with `issuer_key`
/// (itself when `issuer` is null: a self-signed CA).
inline x509_ptr new_certificate(EVP_PKEY* subject_key, const char* common_name, X509* issuer,
                                EVP_PKEY* issuer_key, long serial, const char* subject_alt_name) {
    x509_ptr cert(X509_new());
    require(cert != nullptr, "X509_new");
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 7 * 24 * 3600);
    X509_set_pubkey(cert.get(), subject_key);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name),
                               -1, -1, 0);
    X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
    X509* signer = issuer ? issuer : cert.get();
    if (issuer) {
        add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
        add_extension(cert.get(), signer, NID_subject_alt_name, subject_alt_name);
    } else {
        add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
        add_extension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    }
    require(X509_sign(cert.get(), issuer_key, EVP_sha256()) > 0, "X509_sign");
    return cert;
}

inline void write(const std::filesystem::path& path, auto writer) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    require(f != nullptr, "open a file in the temporary folder");
    bool ok = writer(f) == 1;
    std::fclose(f);
    require(ok, "PEM_write");
}

}  // namespace certificates_detail

/// PEM files in a temporary folder, removed at the end: `ca` (trust it), `server_chain` and
/// `server_key` (the server's, for "localhost" and 127.0.0.1), and `other_key` (matches nothing).
struct test_certificates {
    std::filesystem::path folder, ca, server_chain, server_key, other_key;

    test_certificates() {
        using namespace certificates_detail;
        std::string tmpl = (std::filesystem::temp_directory_path() / "cosock-tls-XXXXXX").string();
        require(::mkdtemp(tmpl.data()) != nullptr, "mkdtemp");
        folder = tmpl;
        ca = folder / "ca.pem";
        server_chain = folder / "server.pem";
        server_key = folder / "server-key.pem";
        other_key = folder / "other-key.pem";

        auto ca_key = new_key();
        auto ca_cert = new_certificate(ca_key.get(), "cosock test CA", nullptr, ca_key.get(), 1, nullptr);
        auto key = new_key();
        auto cert = new_certificate(key.get(), "localhost", ca_cert.get(), ca_key.get(), 2,
                                    "DNS:localhost,IP:127.0.0.1");
        auto other = new_key();
        write(ca, [&](std::FILE* f) { return PEM_write_X509(f, ca_cert.get()); });
        write(server_chain, [&](std::FILE* f) {
            return PEM_write_X509(f, cert.get()) == 1 ? PEM_write_X509(f, ca_cert.get()) : 0;
        });
        write(server_key, [&](std::FILE* f) {
            return PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
        });
        write(other_key, [&](std::FILE* f) {
            return PEM_write_PrivateKey(f, other.get(), nullptr, nullptr, 0, nullptr, nullptr);
        });
    }
    ~test_certificates() {
        std::error_code ignored;
        std::filesystem::remove_all(folder, ignored);
    }
    test_certificates(const test_certificates&) = delete;
    test_certificates& operator=(const test_certificates&) = delete;
};

/// The certificates of this test process, made once.
inline const test_certificates& certificates() {
    static test_certificates made;
    return made;
}

}  // namespace cosock_test
