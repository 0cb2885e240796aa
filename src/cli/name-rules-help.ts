/**
 * The naming rules in a few lines for `--help` (pki/names.ts and pki/general-names.ts hold the rules and
 * their reasons). Each block is a paragraph between blank lines, wrapped to 80 columns like commander's text.
 */

export const USER_NAME_RULES = `
User names (the CN, and part of file names): up to 64 characters; no control,
invisible or bidirectional characters (errors show them escaped: \\u200b); in
Unicode NFC; no "/", "\\", "..", leading "." or "-", trailing ".", spaces or
: * ? " < > |; not a Windows device name (con, nul, com1, lpt1, … with any
extension). A name that differs from an existing one only in case or Unicode
form (Pavel beside pavel) is refused, also with --force.
`;

export const HOST_RULES = `
Hosts: an IPv4 or IPv6 address, or a DNS name of labels of a-z, 0-9 and "-"
(internationalised names as A-labels: xn--…); a wildcard only as "*." over at
least two labels (*.example.com, not * or *.com).
`;

export const ALT_NAME_RULES = `
Email addresses: local@domain in printable ASCII. URIs: absolute, with the
scheme https, spiffe or urn (javascript:, data:, file: and others are refused).
`;

export const REQUEST_RULES = `
Every name in the request is checked before anything is signed, also those the
profile leaves out: one bad name refuses the request, and the error shows it
with hidden characters escaped (good.example\\x00.evil.example).
`;
