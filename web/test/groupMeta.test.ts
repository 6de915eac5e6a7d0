import { describe, expect, it } from "vitest";
import { fromUtf8, utf8 } from "../src/crypto/encoding";
import { decodeGroupMeta, encodeGroupMeta, MAX_GROUP_PICTURE_CHARS } from "../src/app/groupMeta";

const PICTURE = "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQ==";

describe("a group's sealed name and picture", () => {
  it("seals a name alone as before pictures existed, and reads names sealed then", () => {
    expect(fromUtf8(encodeGroupMeta({ name: "Book club" }))).toBe("Book club");
    expect(decodeGroupMeta(utf8("Book club"))).toEqual({ name: "Book club" });
  });

  it("carries a picture with the name", () => {
    expect(decodeGroupMeta(encodeGroupMeta({ name: "Book club", picture: PICTURE }))).toEqual({ name: "Book club", picture: PICTURE });
  });

  it("leaves out a picture that is not a small JPEG data URL, and cleans the name", () => {
    for (const picture of ["javascript:alert(1)", "data:image/svg+xml;base64,PHN2Zz4=", `data:image/jpeg;base64,${"A".repeat(MAX_GROUP_PICTURE_CHARS)}`]) {
      expect(decodeGroupMeta(encodeGroupMeta({ name: "Club", picture }))).toEqual({ name: "Club" });
    }
    expect(decodeGroupMeta(utf8('\u0001{"name":"Club\\u200b  one","picture":5}'))).toEqual({ name: "Club one" });
    expect(decodeGroupMeta(utf8("\u0001{not json"))).toEqual({ name: "" });
  });
});
