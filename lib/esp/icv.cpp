#include "esp/icv.hpp"

#include <cstring>
#include <stdexcept>
#include <string>

#include <intel-ipsec-mb.h>

namespace sipshield {
namespace {

constexpr size_t kBlock = 64;  // SHA-1, MD5 and SHA-256 alike

IMB_HASH_ALG hash_of(AuthAlgorithm a) {
  switch (a) {
    case AuthAlgorithm::hmac_sha1_96:
      return IMB_AUTH_HMAC_SHA_1;
    case AuthAlgorithm::hmac_md5_96:
      return IMB_AUTH_MD5;
    case AuthAlgorithm::hmac_sha256_128:
      return IMB_AUTH_HMAC_SHA_256;
    case AuthAlgorithm::none:
      break;
  }
  return IMB_AUTH_NULL;
}

// Constant time: how many bytes differ is not told by how long the compare takes.
bool same(const uint8_t* a, const uint8_t* b, size_t n) {
  uint8_t diff = 0;
  for (size_t i = 0; i < n; ++i) diff |= static_cast<uint8_t>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

std::optional<AuthAlgorithm> auth_algorithm_from_name(std::string_view name) {
  for (const auto a :
       {AuthAlgorithm::hmac_sha1_96, AuthAlgorithm::hmac_md5_96, AuthAlgorithm::hmac_sha256_128})
    if (name == auth_algorithm_name(a)) return a;
  return std::nullopt;
}

std::string_view auth_algorithm_name(AuthAlgorithm a) {
  switch (a) {
    case AuthAlgorithm::hmac_sha1_96:
      return "hmac-sha-1-96";
    case AuthAlgorithm::hmac_md5_96:
      return "hmac-md5-96";
    case AuthAlgorithm::hmac_sha256_128:
      return "hmac-sha-256-128";
    case AuthAlgorithm::none:
      break;
  }
  return "none";
}

size_t icv_length(AuthAlgorithm a) {
  switch (a) {
    case AuthAlgorithm::hmac_sha1_96:
    case AuthAlgorithm::hmac_md5_96:
      return 12;
    case AuthAlgorithm::hmac_sha256_128:
      return 16;
    case AuthAlgorithm::none:
      break;
  }
  return 0;
}

void AuthKey::wipe() {
  explicit_bzero(inner.data(), inner.size());
  explicit_bzero(outer.data(), outer.size());
  algorithm = AuthAlgorithm::none;
}

IcvVerifier::IcvVerifier() : mgr_(alloc_mb_mgr(0)) {
  if (!mgr_) throw std::runtime_error("Intel IPsec-MB: cannot allocate a multi-buffer manager");
  init_mb_mgr_auto(mgr_, nullptr);
  if (imb_get_errno(mgr_) != 0)
    throw std::runtime_error(std::string("Intel IPsec-MB: ") +
                             imb_get_strerror(imb_get_errno(mgr_)));
}

IcvVerifier::~IcvVerifier() {
  free_mb_mgr(mgr_);
}

std::optional<AuthKey> IcvVerifier::prepare(AuthAlgorithm algorithm,
                                            std::span<const uint8_t> key) const {
  if (algorithm == AuthAlgorithm::none || key.empty() || key.size() > kMaxKeyBytes)
    return std::nullopt;
  AuthKey out;
  out.algorithm = algorithm;
  // RFC 2104: H(K ^ ipad || m) and H(K ^ opad || ...): IPsec-MB takes the state after the
  // first block of each.
  uint8_t block[kBlock];
  for (const auto& [pad, state] :
       {std::pair{uint8_t{0x36}, out.inner.data()}, std::pair{uint8_t{0x5c}, out.outer.data()}}) {
    std::memset(block, pad, sizeof block);
    for (size_t i = 0; i < key.size(); ++i) block[i] = static_cast<uint8_t>(key[i] ^ pad);
    switch (algorithm) {
      case AuthAlgorithm::hmac_sha1_96:
        IMB_SHA1_ONE_BLOCK(mgr_, block, state);
        break;
      case AuthAlgorithm::hmac_md5_96:
        IMB_MD5_ONE_BLOCK(mgr_, block, state);
        break;
      case AuthAlgorithm::hmac_sha256_128:
        IMB_SHA256_ONE_BLOCK(mgr_, block, state);
        break;
      case AuthAlgorithm::none:
        break;
    }
  }
  explicit_bzero(block, sizeof block);
  return out;
}

void IcvVerifier::submit(const AuthKey& key, const uint8_t* data, size_t length, uint8_t* tag,
                         void* user) {
  IMB_JOB* job = IMB_GET_NEXT_JOB(mgr_);
  std::memset(job, 0, sizeof *job);
  job->cipher_direction = IMB_DIR_DECRYPT;
  job->chain_order = IMB_ORDER_HASH_CIPHER;
  job->cipher_mode = IMB_CIPHER_NULL;
  job->hash_alg = hash_of(key.algorithm);
  job->src = data;
  job->hash_start_src_offset_in_bytes = 0;
  job->msg_len_to_hash_in_bytes = length;
  job->u.HMAC._hashed_auth_key_xor_ipad = key.inner.data();
  job->u.HMAC._hashed_auth_key_xor_opad = key.outer.data();
  job->auth_tag_output = tag;
  job->auth_tag_output_len_in_bytes = icv_length(key.algorithm);
  job->user_data = user;
  IMB_SUBMIT_JOB(mgr_);  // completed jobs are read back from the checks' tags after the flush
}

void IcvVerifier::verify(std::span<Check> checks) {
  const size_t n = std::min(checks.size(), kMaxBatch);
  for (size_t i = 0; i < n; ++i) {
    Check& c = checks[i];
    tags_[i].fill(0);
    submit(*c.key, c.data, c.length, tags_[i].data(), &c);
  }
  while (IMB_FLUSH_JOB(mgr_)) {
  }
  // A job the library refused (status not completed) left its tag zeroed: it never matches a
  // real ICV but by a 2^-96 chance, and such a refusal means a bug here, not an attack.
  for (size_t i = 0; i < n; ++i) {
    Check& c = checks[i];
    c.ok = same(tags_[i].data(), c.icv, icv_length(c.key->algorithm));
  }
  for (size_t i = n; i < checks.size(); ++i) checks[i].ok = false;
}

bool IcvVerifier::verify_one(Check& check) {
  verify(std::span<Check>(&check, 1));
  return check.ok;
}

void IcvVerifier::compute(const AuthKey& key, const uint8_t* data, size_t length, uint8_t* tag) {
  submit(key, data, length, tag, nullptr);
  while (IMB_FLUSH_JOB(mgr_)) {
  }
}

}  // namespace sipshield
