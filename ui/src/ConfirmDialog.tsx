// A confirmation before a destructive action (Forget tokens).
import { Button, Dialog, Portal, Text } from "@chakra-ui/react";

interface Props {
  open: boolean;
  title: string;
  message: string;
  confirmLabel: string;
  onConfirm: () => void;
  onCancel: () => void;
}

export const ConfirmDialog = ({ open, title, message, confirmLabel, onConfirm, onCancel }: Props) => (
  <Dialog.Root
    onOpenChange={(details) => {
      if (!details.open) onCancel();
    }}
    open={open}
    role="alertdialog"
  >
    <Portal>
      <Dialog.Backdrop />
      <Dialog.Positioner>
        <Dialog.Content>
          <Dialog.Header>
            <Dialog.Title>{title}</Dialog.Title>
          </Dialog.Header>
          <Dialog.Body>
            <Text>{message}</Text>
          </Dialog.Body>
          <Dialog.Footer>
            <Button onClick={onCancel} variant="outline">
              Cancel
            </Button>
            <Button colorPalette="red" onClick={onConfirm}>
              {confirmLabel}
            </Button>
          </Dialog.Footer>
        </Dialog.Content>
      </Dialog.Positioner>
    </Portal>
  </Dialog.Root>
);
