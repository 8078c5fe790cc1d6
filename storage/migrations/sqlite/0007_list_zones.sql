-- A campaign's list is made into calls zone by zone, the zone whose calling hours close first
-- first (`dispatch::zones`): each contact is listed under its number's zone key, and each zone
-- of a campaign keeps its own cursor. Contacts added before this version are listed under the
-- empty key, whose cursor starts at the campaign's single cursor: every contact up to it has
-- its call already.
ALTER TABLE contacts ADD COLUMN zone TEXT NOT NULL DEFAULT '';
CREATE INDEX contacts_by_zone ON contacts (campaign_id, zone, id);

CREATE TABLE list_zones (
    campaign_id INTEGER NOT NULL,
    zone        TEXT    NOT NULL,
    cursor      INTEGER,                    -- last contact of the zone made into a call
    PRIMARY KEY (campaign_id, zone)
) WITHOUT ROWID;

INSERT INTO list_zones (campaign_id, zone, cursor)
    SELECT id, '', dial_cursor FROM campaigns
    WHERE EXISTS (SELECT 1 FROM contacts WHERE contacts.campaign_id = campaigns.id);
