-- Issue 31: custom user data. One JSON object per user (at most 16 KB, written by the app's backend through the
-- admin API or CLI, or imported), carried in the access token's `user_data` claim and in the profile.
ALTER TABLE users ADD COLUMN custom_data TEXT;
