/** ERROR codes of the native protocol (v4 spec §9); the [int] that starts an ERROR body. */
export const CqlErrorCode = {
  ServerError: 0x0000,
  ProtocolError: 0x000a,
  /** The spec calls it Authentication error; drivers report it as bad credentials. */
  BadCredentials: 0x0100,
  Unavailable: 0x1000,
  Overloaded: 0x1001,
  IsBootstrapping: 0x1002,
  TruncateError: 0x1003,
  WriteTimeout: 0x1100,
  ReadTimeout: 0x1200,
  ReadFailure: 0x1300,
  FunctionFailure: 0x1400,
  WriteFailure: 0x1500,
  SyntaxError: 0x2000,
  Unauthorized: 0x2100,
  Invalid: 0x2200,
  ConfigError: 0x2300,
  AlreadyExists: 0x2400,
  Unprepared: 0x2500,
} as const
