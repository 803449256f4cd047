// The OAuth profiles page: every oauth_connector connection with its status, and its actions.
import {
  Alert,
  Badge,
  Box,
  Button,
  Code,
  Flex,
  Heading,
  HStack,
  Link,
  Spinner,
  Stack,
  Table,
  Text,
} from "@chakra-ui/react";
import { useCallback, useEffect, useMemo, useState } from "react";

import { ApiError, Client, signInUrl } from "./api";
import { ConfirmDialog } from "./ConfirmDialog";
import { ProfileForm } from "./ProfileForm";
import {
  type Action,
  type Busy,
  type RefreshUrgency,
  endBusy,
  errorNotice,
  errorTitles,
  fatalView,
  forgetNotice,
  forgetPrompt,
  outcomeToken,
  replaceRow as withRow,
  rowButtons,
  rowView,
  savedNotice,
  startBusy,
  testNotice,
} from "./rows";
import type { Notice, ProfileRow, Session } from "./types";

type FormMode = { mode: "add" } | { mode: "edit"; connId: string } | null;

/** The callback's signed notice from the URL (then removed from the address bar). */
const takeOutcomeToken = (): string | null => {
  const { token, cleaned } = outcomeToken(globalThis.location.href);
  if (cleaned !== null) globalThis.history.replaceState(globalThis.history.state, "", cleaned);
  return token;
};

export const ProfilesPage = () => {
  const client = useMemo(() => new Client(), []);
  const [session, setSession] = useState<Session | null>(null);
  const [rows, setRows] = useState<ProfileRow[] | null>(null);
  const [fatal, setFatal] = useState<ApiError | null>(null);
  const [notice, setNotice] = useState<Notice | null>(null);
  const [busy, setBusy] = useState<Busy>({});
  const [form, setForm] = useState<FormMode>(null);
  const [forgetting, setForgetting] = useState<string | null>(null);

  const reload = useCallback(async () => {
    const answer = await client.profiles();
    setRows(answer.profiles);
  }, [client]);

  useEffect(() => {
    const token = takeOutcomeToken();
    (async () => {
      try {
        setSession(await client.start());
        if (token) {
          client.outcome(token).then(setNotice, (error) => setNotice(errorNotice(errorTitles.outcome, error)));
        }
        await reload();
      } catch (error) {
        setFatal(error instanceof ApiError ? error : new ApiError(0, String(error)));
      }
    })();
  }, [client, reload]);

  const replaceRow = (row: ProfileRow | undefined) => {
    if (row) setRows((current) => withRow(current, row));
  };

  const run = async (connId: string, action: string, work: () => Promise<void>) => {
    setBusy((current) => startBusy(current, connId, action));
    try {
      await work();
    } finally {
      setBusy((current) => endBusy(current, connId));
    }
  };

  const test = (connId: string) =>
    run(connId, "test", async () => {
      try {
        const answer = await client.test(connId);
        replaceRow(answer.profile);
        setNotice(testNotice(connId, answer));
      } catch (error) {
        setNotice(errorNotice(errorTitles.test(connId), error));
      }
    });

  const authorize = (connId: string) =>
    run(connId, "authorize", async () => {
      try {
        const { url } = await client.authorize(connId);
        // The page lives in Airflow's own window (not a sandboxed frame): go to the provider; its redirect
        // comes back to the plugin's callback, which returns here.
        globalThis.location.assign(url);
      } catch (error) {
        setNotice(errorNotice(errorTitles.authorize(connId), error));
      }
    });

  const forget = (connId: string) =>
    run(connId, "forget", async () => {
      setForgetting(null);
      try {
        const answer = await client.forget(connId);
        replaceRow(answer.profile);
        setNotice(forgetNotice(connId, answer));
      } catch (error) {
        setNotice(errorNotice(errorTitles.forget(connId), error));
      }
    });

  const saved = async (connId: string, created: boolean, grant: string) => {
    setForm(null);
    setNotice(savedNotice(connId, created, grant));
    try {
      await reload();
    } catch (error) {
      setNotice(errorNotice(errorTitles.reload, error));
    }
  };

  if (fatal) return <FatalError error={fatal} />;

  return (
    <Stack gap={5} maxW="1400px">
      <Flex align="flex-start" gap={4} justify="space-between" wrap="wrap">
        <Box>
          <Heading as="h1" size="xl">
            OAuth profiles
          </Heading>
          <Text color="fg.muted">
            Connections of type OAuth 2.0 API (<Code size="sm">oauth_connector</Code>): their authorization and token
            status. Tokens and secrets are never shown here.
          </Text>
        </Box>
        <Button colorPalette="blue" disabled={!session} onClick={() => setForm({ mode: "add" })}>
          Add OAuth
        </Button>
      </Flex>

      {notice ? <NoticeBox notice={notice} onClose={() => setNotice(null)} /> : null}

      {rows === null ? (
        <HStack color="fg.muted">
          <Spinner size="sm" /> <Text>Loading profiles…</Text>
        </HStack>
      ) : rows.length === 0 ? (
        <Box borderRadius="md" borderWidth="1px" color="fg.muted" p={8} textAlign="center">
          No OAuth connection yet, or none you may edit. Press <b>Add OAuth</b> to create one.
        </Box>
      ) : (
        <ProfilesTable
          busy={busy}
          onAuthorize={authorize}
          onEdit={(connId) => setForm({ mode: "edit", connId })}
          onForget={setForgetting}
          onTest={test}
          rows={rows}
        />
      )}

      {session ? (
        <Text color="fg.muted" fontSize="xs">
          Authorization-code profiles: register the redirect URI shown for each at the provider (this page's callback
          is <Code size="sm">{session.callback_url}</Code>; a profile's <Code size="sm">redirect_uri</Code> field
          overrides it). Signed in as {session.user}.{" "}
          <Link href={session.classic_page} color="fg.info">
            Classic page
          </Link>
        </Text>
      ) : null}

      {form ? (
        <ProfileForm
          client={client}
          connId={form.mode === "edit" ? form.connId : undefined}
          onClose={() => setForm(null)}
          onSaved={saved}
        />
      ) : null}

      <ConfirmDialog
        confirmLabel="Forget tokens"
        message={forgetPrompt(forgetting)}
        onCancel={() => setForgetting(null)}
        onConfirm={() => forgetting && forget(forgetting)}
        open={forgetting !== null}
        title="Forget tokens?"
      />
    </Stack>
  );
};

const NoticeBox = ({ notice, onClose }: { notice: Notice; onClose: () => void }) => (
  <Alert.Root data-kind={notice.kind} data-testid="notice" status={notice.kind} variant="surface">
    <Alert.Indicator />
    <Alert.Content>
      <Alert.Title>{notice.title}</Alert.Title>
      {notice.message ? <Alert.Description>{notice.message}</Alert.Description> : null}
      {notice.details ? (
        <Text color="fg.muted" fontSize="xs">
          {notice.details}
        </Text>
      ) : null}
    </Alert.Content>
    <Button onClick={onClose} size="xs" variant="ghost">
      Dismiss
    </Button>
  </Alert.Root>
);

interface TableProps {
  rows: ProfileRow[];
  busy: Busy;
  onTest: (connId: string) => void;
  onAuthorize: (connId: string) => void;
  onEdit: (connId: string) => void;
  onForget: (connId: string) => void;
}

/** How each action's button looks (what it does and whether it shows comes from rows.ts: rowButtons). */
const BUTTON_STYLE: Record<Action, { colorPalette?: string; variant?: "outline" | "ghost" }> = {
  authorize: { colorPalette: "blue" },
  test: { variant: "outline" },
  edit: { variant: "outline" },
  forget: { colorPalette: "red", variant: "ghost" },
};

/** How the refresh token's stated expiry is coloured: expired, within a week, or later. */
const REFRESH_EXPIRY_COLORS: Record<RefreshUrgency, string> = {
  expired: "fg.error",
  soon: "fg.warning",
  later: "fg.muted",
};

const ProfilesTable = ({ rows, busy, onTest, onAuthorize, onEdit, onForget }: TableProps) => {
  const handlers: Record<Action, (connId: string) => void> = {
    authorize: onAuthorize,
    test: onTest,
    edit: onEdit,
    forget: onForget,
  };
  return (
    <Table.ScrollArea borderRadius="md" borderWidth="1px">
      <Table.Root size="sm" tableLayout="fixed" variant="line" width="full">
        <Table.Header>
          <Table.Row>
            <Table.ColumnHeader width="19%">Connection</Table.ColumnHeader>
            <Table.ColumnHeader width="20%">Status</Table.ColumnHeader>
            <Table.ColumnHeader width="23%">Last failure</Table.ColumnHeader>
            <Table.ColumnHeader width="15%">Token</Table.ColumnHeader>
            <Table.ColumnHeader width="8%">Scopes</Table.ColumnHeader>
            <Table.ColumnHeader width="15%">Actions</Table.ColumnHeader>
          </Table.Row>
        </Table.Header>
        <Table.Body>
          {rows.map((row) => {
            const view = rowView(row);
            return (
              <Table.Row
                css={{ "& td": { overflowWrap: "anywhere", whiteSpace: "normal" } }}
                data-conn-id={row.conn_id}
                data-state={row.state}
                key={row.conn_id}
                verticalAlign="top"
              >
                <Table.Cell>
                  <Text fontWeight="semibold">{row.conn_id}</Text>
                  <Text color="fg.muted" fontSize="xs">
                    {view.grant}
                  </Text>
                  {view.redirectUri ? (
                    <Text color="fg.muted" fontSize="xs">
                      Redirect URI: <Code size="sm">{view.redirectUri}</Code>
                    </Text>
                  ) : null}
                </Table.Cell>
                <Table.Cell>
                  <Badge className="state" colorPalette={view.stateColor} data-testid="state" variant="subtle">
                    {view.stateLabel}
                  </Badge>
                  {view.description === null ? null : (
                    <Text color="fg.muted" fontSize="xs">
                      {view.description}
                    </Text>
                  )}
                  {view.success ? (
                    <Text color="fg.muted" fontSize="xs">
                      Last success: {view.success}
                    </Text>
                  ) : null}
                </Table.Cell>
                <Table.Cell data-testid="last-failure">
                  {view.failure ? (
                    <>
                      <Text color="fg.error" fontSize="xs" fontWeight="semibold">
                        {view.failure.head}
                      </Text>
                      {view.failure.message ? (
                        <Text color="fg.muted" fontSize="xs" lineClamp={3} title={view.failure.message}>
                          {view.failure.message}
                        </Text>
                      ) : null}
                    </>
                  ) : (
                    <Text color="fg.muted">—</Text>
                  )}
                </Table.Cell>
                <Table.Cell fontSize="xs">
                  <Text>Expires: {view.expires}</Text>
                  <Text color="fg.muted">Refreshed: {view.refreshed}</Text>
                  {view.refreshExpiry ? (
                    <Text color={REFRESH_EXPIRY_COLORS[view.refreshExpiry.urgency]} data-testid="refresh-expiry">
                      {view.refreshExpiry.text}
                    </Text>
                  ) : null}
                </Table.Cell>
                <Table.Cell>{row.scope ? <Code size="sm">{row.scope}</Code> : "—"}</Table.Cell>
                <Table.Cell>
                  <HStack gap={1} wrap="wrap">
                    {rowButtons(row, busy[row.conn_id]).map((button) => (
                      <Button
                        {...BUTTON_STYLE[button.action]}
                        disabled={button.disabled}
                        key={button.action}
                        loading={button.loading}
                        onClick={() => handlers[button.action](row.conn_id)}
                        size="xs"
                      >
                        {button.label}
                      </Button>
                    ))}
                  </HStack>
                </Table.Cell>
              </Table.Row>
            );
          })}
        </Table.Body>
      </Table.Root>
    </Table.ScrollArea>
  );
};

const FatalError = ({ error }: { error: ApiError }) => {
  const { signedOut, title } = fatalView(error.status);
  return (
    <Alert.Root maxW="3xl" status="error" variant="surface">
      <Alert.Indicator />
      <Alert.Content>
        <Alert.Title>{title}</Alert.Title>
        <Alert.Description>
          {error.message}
          {signedOut ? (
            <>
              {" "}
              <Link color="fg.info" href={signInUrl()}>
                Sign in
              </Link>
            </>
          ) : null}
        </Alert.Description>
      </Alert.Content>
    </Alert.Root>
  );
};
