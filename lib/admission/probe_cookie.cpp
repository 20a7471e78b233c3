#include "admission/probe_cookie.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <intel-ipsec-mb.h>

namespace sipshield {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void to_hex(const uint8_t* bytes, size_t n, char* out) {
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[bytes[i] >> 4];
    out[2 * i + 1] = kHex[bytes[i] & 15];
  }
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

ProbeCookie::ProbeCookie(const std::array<uint8_t, 16>& secret, const ProbeCookieConfig& config)
    : config_(config), mgr_(alloc_mb_mgr(0)) {
  if (!mgr_) throw std::runtime_error("Intel IPsec-MB: cannot allocate a multi-buffer manager");
  init_mb_mgr_auto(mgr_, nullptr);
  if (imb_get_errno(mgr_) != 0)
    throw std::runtime_error(std::string("Intel IPsec-MB: ") +
                             imb_get_strerror(imb_get_errno(mgr_)));
  expand(master_, secret.data());
}

ProbeCookie::~ProbeCookie() {
  free_mb_mgr(mgr_);
}

void ProbeCookie::expand(Key& k, const uint8_t raw[16]) {
  alignas(16) uint32_t decrypt_keys[4 * 11];  // CMAC needs only the encryption schedule
  IMB_AES_KEYEXP_128(mgr_, raw, k.expanded, decrypt_keys);
  IMB_AES_CMAC_SUBKEY_GEN_128(mgr_, k.expanded, k.skey1, k.skey2);
}

void ProbeCookie::check_done(IMB_JOB* job) {
  if (job->status != IMB_STATUS_COMPLETED)  // never matches a tag
    std::memset(job->auth_tag_output, 0, job->auth_tag_output_len_in_bytes);
}

void ProbeCookie::submit_cmac(const Key& k, const uint8_t* data, size_t bytes, uint8_t tag[16]) {
  IMB_JOB* job = IMB_GET_NEXT_JOB(mgr_);
  std::memset(job, 0, sizeof *job);
  job->cipher_direction = IMB_DIR_ENCRYPT;
  job->chain_order = IMB_ORDER_HASH_CIPHER;
  job->cipher_mode = IMB_CIPHER_NULL;
  job->hash_alg = IMB_AUTH_AES_CMAC;
  job->src = data;
  job->hash_start_src_offset_in_bytes = 0;
  job->msg_len_to_hash_in_bytes = bytes;
  job->u.CMAC._key_expanded = k.expanded;
  job->u.CMAC._skey1 = k.skey1;
  job->u.CMAC._skey2 = k.skey2;
  job->auth_tag_output = tag;
  job->auth_tag_output_len_in_bytes = 16;
  // A full set of lanes returns a completed job (maybe an earlier one).
  if (IMB_JOB* done = IMB_SUBMIT_JOB(mgr_)) check_done(done);
}

void ProbeCookie::flush_cmacs() {
  while (IMB_JOB* done = IMB_FLUSH_JOB(mgr_)) check_done(done);
}

void ProbeCookie::cmac(const Key& k, const uint8_t* data, size_t bytes, uint8_t tag[16]) {
  submit_cmac(k, data, bytes, tag);
  flush_cmacs();
}

const ProbeCookie::Key& ProbeCookie::key(uint64_t epoch) {
  Key& k = keys_[epoch & 1];
  if (k.epoch != epoch) {  // once per rotation: K_epoch = CMAC(secret, epoch)
    uint8_t block[16] = {};
    std::memcpy(block, &epoch, sizeof epoch);
    uint8_t raw[16];
    cmac(master_, block, sizeof block, raw);
    expand(k, raw);
    k.epoch = epoch;
  }
  return k;
}

void ProbeCookie::tag_block(uint8_t block[40], uint32_t slot, const IpAddress& client,
                            uint16_t client_port, const IpAddress& service, uint16_t service_port) {
  std::memcpy(block, client.bytes.data(), 16);
  std::memcpy(block + 16, service.bytes.data(), 16);
  std::memcpy(block + 32, &client_port, 2);
  std::memcpy(block + 34, &service_port, 2);
  std::memcpy(block + 36, &slot, 4);
}

std::array<uint8_t, 8> ProbeCookie::tag(uint32_t slot, const IpAddress& client,
                                        uint16_t client_port, const IpAddress& service,
                                        uint16_t service_port) {
  uint8_t block[40];
  tag_block(block, slot, client, client_port, service, service_port);
  uint8_t full[16];
  cmac(key(epoch_of(slot)), block, sizeof block, full);
  std::array<uint8_t, 8> out;
  std::memcpy(out.data(), full, out.size());
  return out;
}

ProbeCookie::Text ProbeCookie::text_of(uint32_t slot, const uint8_t tag[8]) {
  Text text;
  const uint8_t slot_bytes[4] = {uint8_t(slot >> 24), uint8_t(slot >> 16), uint8_t(slot >> 8),
                                 uint8_t(slot)};
  to_hex(slot_bytes, 4, text.data());
  to_hex(tag, 8, text.data() + 8);
  return text;
}

ProbeCookie::Text ProbeCookie::make(const IpAddress& client, uint16_t client_port,
                                    const IpAddress& service, uint16_t service_port,
                                    uint64_t now_ms) {
  const auto slot = static_cast<uint32_t>(now_ms / 1000 / config_.slot_s);
  return text_of(slot, tag(slot, client, client_port, service, service_port).data());
}

void ProbeCookie::make(std::span<const Request> requests, std::span<Text> out) {
  uint8_t blocks[kBatchMax][40];
  uint8_t tags[kBatchMax][16];
  uint32_t slots[kBatchMax];
  const size_t n = std::min({requests.size(), out.size(), kBatchMax});
  for (size_t i = 0; i < n; ++i) {  // keys first: deriving one runs a job of its own
    slots[i] = static_cast<uint32_t>(requests[i].now_ms / 1000 / config_.slot_s);
    key(epoch_of(slots[i]));
  }
  for (size_t i = 0; i < n; ++i) {
    const Request& r = requests[i];
    tag_block(blocks[i], slots[i], r.client, r.client_port, r.service, r.service_port);
    // key() keeps the current and the previous rotation's keys: a burst spans at most both.
    submit_cmac(keys_[epoch_of(slots[i]) & 1], blocks[i], sizeof blocks[i], tags[i]);
  }
  flush_cmacs();
  for (size_t i = 0; i < n; ++i) out[i] = text_of(slots[i], tags[i]);
}

bool ProbeCookie::check(std::string_view text, const IpAddress& client, uint16_t client_port,
                        const IpAddress& service, uint16_t service_port, uint64_t now_ms) {
  if (text.size() < kTextBytes) return false;
  uint32_t slot = 0;
  for (size_t i = 0; i < 8; ++i) {
    const int d = hex_digit(text[i]);
    if (d < 0) return false;
    slot = slot << 4 | static_cast<uint32_t>(d);
  }
  const auto now_slot = static_cast<uint32_t>(now_ms / 1000 / config_.slot_s);
  if (slot != now_slot && slot + 1 != now_slot) return false;  // too old, or from the future
  const auto t = tag(slot, client, client_port, service, service_port);
  char expect[16];
  to_hex(t.data(), t.size(), expect);
  uint8_t diff = 0;  // constant time: no early exit on the first wrong digit
  for (size_t i = 0; i < 16; ++i) diff |= static_cast<uint8_t>(expect[i] ^ text[8 + i]);
  return diff == 0;
}

}  // namespace sipshield
