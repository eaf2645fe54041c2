/**
 * Numbers from the IPMI v2.0 specification (rev. 1.1) that the native driver uses. Section numbers
 * refer to that document.
 */

/** RMCP header (§13.1.3): version 6, reserved, sequence 0xFF (no RMCP ACK), class 7 (IPMI). */
export const RMCP_HEADER = Buffer.from([0x06, 0x00, 0xff, 0x07]);
export const RMCP_CLASS_IPMI = 0x07;

/** Session header authentication type (§13.6): 0 = none (IPMI v1.5 framing), 6 = RMCP+ (IPMI v2.0 framing). */
export const AUTHTYPE_NONE = 0x00;
export const AUTHTYPE_RMCP_PLUS = 0x06;

/** Payload types (§13.27.3). */
export const PayloadType = {
  IPMI: 0x00,
  OPEN_SESSION_REQUEST: 0x10,
  OPEN_SESSION_RESPONSE: 0x11,
  RAKP1: 0x12,
  RAKP2: 0x13,
  RAKP3: 0x14,
  RAKP4: 0x15,
} as const;

/** Payload type byte flags (§13.6). */
export const PAYLOAD_ENCRYPTED = 0x80;
export const PAYLOAD_AUTHENTICATED = 0x40;

/** Network functions (requests; the response netFn is the request's + 1). */
export const NetFn = {CHASSIS: 0x00, APP: 0x06} as const;

export const Cmd = {
  // App
  GET_CHANNEL_AUTH_CAPABILITIES: 0x38,
  SET_SESSION_PRIVILEGE_LEVEL: 0x3b,
  CLOSE_SESSION: 0x3c,
  // Chassis
  GET_CHASSIS_STATUS: 0x01,
  CHASSIS_CONTROL: 0x02,
  SET_SYSTEM_BOOT_OPTIONS: 0x08,
} as const;

/** Chassis Control data byte (§28.3). */
export const ChassisControl = {
  POWER_DOWN: 0x00,
  POWER_UP: 0x01,
  POWER_CYCLE: 0x02,
  HARD_RESET: 0x03,
  SOFT_SHUTDOWN: 0x05,
} as const;

/** Boot flags (§28.13, boot option parameter 5), data byte 2: the boot device selector in bits 5:2. */
export const BootDeviceSelector = {
  none: 0x00,
  pxe: 0x04,
  disk: 0x08,
  cdrom: 0x14,
  bios: 0x18,
} as const;

/** Boot option parameter 5 data byte 1: flags valid, persistent (else next boot only), EFI (else legacy). */
export const BOOT_FLAGS_VALID = 0x80;
export const BOOT_FLAGS_PERSISTENT = 0x40;
export const BOOT_FLAGS_EFI = 0x20;

/** Privilege levels (§6.8) as carried in RAKP 1 and Set Session Privilege Level. */
export const Privilege = {USER: 0x02, OPERATOR: 0x03, ADMINISTRATOR: 0x04} as const;
export type PrivilegeName = keyof typeof Privilege;

/** RAKP 1 role byte bit 4: look the user up by name only (not by name and privilege). */
export const NAME_ONLY_LOOKUP = 0x10;

/** Algorithm numbers (§13.28): authentication, integrity, confidentiality. */
export const AuthAlg = {NONE: 0x00, HMAC_SHA1: 0x01} as const;
export const IntegrityAlg = {NONE: 0x00, HMAC_SHA1_96: 0x01} as const;
export const ConfAlg = {NONE: 0x00, AES_CBC_128: 0x01} as const;

/**
 * The cipher suites this driver implements (§22.15.2, table 22-20). 3 is the one every BMC offers;
 * 1 and 2 are its weaker subsets. Suites with SHA-256 (15-17) are not implemented: the test
 * simulator (OpenIPMI ipmi_sim) does not support them, so they could not be verified.
 */
export const CIPHER_SUITES = {
  1: {auth: AuthAlg.HMAC_SHA1, integrity: IntegrityAlg.NONE, confidentiality: ConfAlg.NONE},
  2: {auth: AuthAlg.HMAC_SHA1, integrity: IntegrityAlg.HMAC_SHA1_96, confidentiality: ConfAlg.NONE},
  3: {auth: AuthAlg.HMAC_SHA1, integrity: IntegrityAlg.HMAC_SHA1_96, confidentiality: ConfAlg.AES_CBC_128},
} as const;
export type CipherSuiteId = keyof typeof CIPHER_SUITES;

/** RMCP+ status codes in Open Session Response and RAKP messages (§13.24). */
export const RMCP_PLUS_STATUS: Record<number, string> = {
  0x00: 'no errors',
  0x01: 'insufficient resources to create a session',
  0x02: 'invalid session ID',
  0x03: 'invalid payload type',
  0x04: 'invalid authentication algorithm',
  0x05: 'invalid integrity algorithm',
  0x06: 'no matching authentication payload',
  0x07: 'no matching integrity payload',
  0x08: 'inactive session ID',
  0x09: 'invalid role',
  0x0a: 'unauthorized role or privilege level requested',
  0x0b: 'insufficient resources to create a session at the requested role',
  0x0c: 'invalid name length',
  0x0d: 'unauthorized name',
  0x0e: 'unauthorized GUID',
  0x0f: 'invalid integrity check value',
  0x10: 'invalid confidentiality algorithm',
  0x11: 'no cipher suite match with proposed security algorithms',
  0x12: 'illegal or unrecognized parameter',
};

/** RMCP+ status codes that mean "these credentials are not accepted". */
export const AUTH_STATUS = new Set([0x09, 0x0a, 0x0c, 0x0d, 0x0f]);

/** Completion codes (§5.2, table 5-2). */
export const COMPLETION_CODES: Record<number, string> = {
  0xc0: 'node busy',
  0xc1: 'invalid command',
  0xc2: 'command invalid for given LUN',
  0xc3: 'timeout while processing command',
  0xc4: 'out of space',
  0xc5: 'reservation cancelled or invalid',
  0xc6: 'request data truncated',
  0xc7: 'request data length invalid',
  0xc8: 'request data field length limit exceeded',
  0xc9: 'parameter out of range',
  0xca: 'cannot return number of requested data bytes',
  0xcb: 'requested sensor, data or record not present',
  0xcc: 'invalid data field in request',
  0xcd: 'command illegal for specified sensor or record type',
  0xce: 'command response could not be provided',
  0xcf: 'cannot execute duplicated request',
  0xd0: 'SDR repository in update mode',
  0xd1: 'device in firmware update mode',
  0xd2: 'BMC initialization in progress',
  0xd3: 'destination unavailable',
  0xd4: 'insufficient privilege level',
  0xd5: 'command not supported in present state',
  0xd6: 'command sub-function disabled or unavailable',
  0xff: 'unspecified error',
};

/** The BMC's slave address and the remote console's software id (§5.5). */
export const BMC_ADDRESS = 0x20;
export const CONSOLE_SWID = 0x81;
