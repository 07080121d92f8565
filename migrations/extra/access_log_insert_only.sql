-- 개인정보 접근기록 must not be altered: the application may only INSERT into access_logs (PIPA 안전성
-- 확보조치 기준 §8). Row UPDATE/DELETE and TRUNCATE raise. Maintenance that must empty the table (the test
-- suite's cleanup) runs with `SET LOCAL session_replication_role = replica`, which only a superuser may set.
CREATE OR REPLACE FUNCTION access_logs_insert_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'access_logs is insert-only: ' || TG_OP, ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER access_logs_no_update_delete BEFORE UPDATE OR DELETE ON access_logs
    FOR EACH ROW EXECUTE FUNCTION access_logs_insert_only();
CREATE TRIGGER access_logs_no_truncate BEFORE TRUNCATE ON access_logs
    FOR EACH STATEMENT EXECUTE FUNCTION access_logs_insert_only();
