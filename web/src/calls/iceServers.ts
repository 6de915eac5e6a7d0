// The ICE servers a call's peer connections use: the instance's TURN (short-lived
// credentials from GET /v1/calls/turn), so that people behind networks that block direct UDP
// still connect — one-to-one (./call.ts) and to the SFU (./groupCall.ts) alike.

export interface TurnGrant {
  urls: string[];
  username?: string;
  credential?: string;
}

/** The TURN server of `grant` (none when the instance has none, or the API could not be asked). */
export async function iceServers(turn: () => Promise<TurnGrant>): Promise<RTCIceServer[]> {
  try {
    const grant = await turn();
    if (grant.urls.length === 0) return [];
    const server: RTCIceServer = { urls: grant.urls };
    if (grant.username !== undefined) server.username = grant.username;
    if (grant.credential !== undefined) server.credential = grant.credential;
    return [server];
  } catch (err) {
    console.warn("talkee: no TURN credentials for this call: direct candidates only", err);
    return [];
  }
}
